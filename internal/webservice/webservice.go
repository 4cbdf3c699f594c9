// Package webservice runs a tool's web service: a Deployment, a ClusterIP
// Service on port 8000 and an Ingress for <tool>.<domain>, all named after
// the tool in its own namespace, made with the tool's own credentials (as
// the original `webservice` command did; no platform service is involved).
// The settings a web service was started with are kept in the tool's
// service.manifest, so start and restart without arguments reuse them.
package webservice

import (
	"maps"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Port is where a web service listens, and what its Service and Ingress
// route to.
const Port = 8000

// ContainerName is the web service's container in its pods.
const ContainerName = "webservice"

// TypeAnnotation on the Deployment records the webservice type, so status
// reads it from the cluster rather than trusting a file the tool can edit.
const TypeAnnotation = "toolforge.org/webservice-type"

// restartedAnnotation on the pod template changes on every restart, which
// makes the Deployment roll its pods (what `kubectl rollout restart` does).
const restartedAnnotation = "toolforge.org/restarted-at"

// Labels are on every object of a tool's web service (SPEC §7).
func Labels(tool string) map[string]string {
	return map[string]string{
		tenancy.LabelToolforge: tenancy.ToolforgeTool,
		tenancy.LabelManagedBy: tenancy.ManagedByWeb,
		tenancy.LabelComponent: tenancy.ComponentWeb,
		tenancy.LabelAppName:   tool,
		tenancy.LabelCreatedBy: tool,
	}
}

// selector picks the web service's pods. It is part of the Deployment's
// immutable spec, so it must never change; it leaves out managed-by so a
// jobs-framework continuous job named like the tool (component
// "deployments") is never mistaken for the web service.
func selector(tool string) map[string]string {
	return map[string]string{
		tenancy.LabelToolforge: tenancy.ToolforgeTool,
		tenancy.LabelComponent: tenancy.ComponentWeb,
		tenancy.LabelAppName:   tool,
	}
}

// shellLabels are on the interactive pods of `webservice shell`.
func shellLabels(tool string) map[string]string {
	l := maps.Clone(Labels(tool))
	l[tenancy.LabelComponent] = tenancy.ComponentShell
	return l
}

// managed says whether an object carries the web service's managed-by
// label: only those are ever updated or deleted, so a tool's hand-made
// Service or Deployment that happens to share the name is left alone.
func managed(labels map[string]string) bool {
	return labels[tenancy.LabelManagedBy] == tenancy.ManagedByWeb
}
