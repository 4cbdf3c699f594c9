package ingest

import (
	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// source is where a line is filed: its tool's tenant and its stream.
type source struct {
	tool                       string
	kind, name, pod, container string
}

// key identifies the stream.
func (s source) key() string {
	return s.tool + "\x00" + s.kind + "\x00" + s.name + "\x00" + s.pod + "\x00" + s.container
}

// classify files a collected line. The tool is the namespace's (a tool
// namespace is tool-<t>), or, in the build namespace where only the
// platform makes pods, the build pod's label; what the container wrote is
// never looked at. ok is false for lines the platform does not keep:
// other namespaces, and interactive shells (what a maintainer types).
func classify(c collected) (source, bool) {
	ns, pod, container := c.meta[metaNamespace], c.meta[metaPod], c.meta[metaContainer]
	s := source{pod: pod, container: container}
	if ns == logs.BuildNamespace {
		s.tool, s.kind, s.name = c.labels[logs.LabelBuildTool], logs.KindBuild, c.labels[logs.LabelBuild]
		if tenancy.ValidateName(s.tool) != nil || s.name == "" {
			return s, false
		}
		return s, true
	}
	tool, ok := tenancy.ToolOfNamespace(ns)
	if !ok {
		return s, false
	}
	s.tool = tool
	switch c.labels[tenancy.LabelComponent] {
	case tenancy.ComponentShell:
		return s, false
	case tenancy.ComponentWeb:
		if c.labels[tenancy.LabelManagedBy] == tenancy.ManagedByWeb {
			s.kind, s.name = logs.KindWebservice, tool
			return s, true
		}
	case tenancy.ComponentJobs, tenancy.ComponentCron, tenancy.ComponentDeploy:
		if name := c.labels[tenancy.LabelAppName]; name != "" && c.labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			s.kind, s.name = logs.KindJob, name
			return s, true
		}
	}
	s.kind, s.name = logs.KindPod, pod
	return s, true
}
