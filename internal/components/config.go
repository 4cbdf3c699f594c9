// Package components is the components service's contract between the CLI
// and the API server: the tool's components file (config_version
// v1beta1), its strict parsing and validation, how a component's run
// settings become a jobs-framework job, and the API's request and
// response bodies. It links no server code (internal/components/server
// serves /components/v1 and runs deployments).
package components

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// ConfigVersion is the one file format (the original's).
const ConfigVersion = "v1beta1"

// Component types.
const (
	TypeContinuous = "continuous"
	TypeScheduled  = "scheduled"
)

// Config is a tool's components file.
type Config struct {
	ConfigVersion string `json:"config_version"`
	// SourceURL is where the file itself lives; it is fetched again at
	// every deployment.
	SourceURL  string               `json:"source_url,omitempty"`
	Components map[string]Component `json:"components"`
}

// Component is one workload: how its image is built and how it runs.
type Component struct {
	ComponentType string `json:"component_type"`
	Build         Build  `json:"build"`
	Run           Run    `json:"run"`
}

// Build says where a component's image comes from: a git repository's
// ref, or another component's build.
type Build struct {
	Repository        string            `json:"repository,omitempty"`
	Ref               string            `json:"ref,omitempty"`
	ReuseFrom         string            `json:"reuse_from,omitempty"`
	UseLatestVersions bool              `json:"use_latest_versions,omitempty"`
	Envvars           map[string]string `json:"envvars,omitempty"`
}

// Run are the settings of `toolforge jobs run`.
type Run struct {
	Command           string  `json:"command"`
	CPU               string  `json:"cpu,omitempty"`
	Memory            string  `json:"memory,omitempty"`
	Emails            string  `json:"emails,omitempty"`
	Filelog           *bool   `json:"filelog,omitempty"`
	FilelogStdout     string  `json:"filelog_stdout,omitempty"`
	FilelogStderr     string  `json:"filelog_stderr,omitempty"`
	Mount             string  `json:"mount,omitempty"`
	Port              int     `json:"port,omitempty"`
	PortProtocol      string  `json:"port_protocol,omitempty"`
	Publish           Publish `json:"publish,omitempty"`
	Replicas          int     `json:"replicas,omitempty"`
	HealthCheckHTTP   string  `json:"health_check_http,omitempty"`
	HealthCheckScript string  `json:"health_check_script,omitempty"`
	Schedule          string  `json:"schedule,omitempty"`
	Retry             int     `json:"retry,omitempty"`
	Timeout           int     `json:"timeout,omitempty"`
}

// Publish routes the tool's host to a continuous component's port: true
// or "/" (the whole host; the platform routes no narrower path).
type Publish string

// UnmarshalJSON takes a boolean or a path.
func (p *Publish) UnmarshalJSON(b []byte) error {
	var on bool
	if err := json.Unmarshal(b, &on); err == nil {
		*p = ""
		if on {
			*p = "/"
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("publish: want true, false or \"/\"")
	}
	*p = Publish(s)
	return nil
}

// Parse reads a components file (YAML or JSON), refusing any key the
// format does not have, by its path (components.web.run.comand), and
// validates it.
func Parse(data []byte) (*Config, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("the file is not valid YAML: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("the file is empty")
	}
	if unknown := unknownKeys(raw, reflect.TypeOf(Config{}), ""); len(unknown) > 0 {
		return nil, fmt.Errorf("unknown key %s", strings.Join(unknown, ", unknown key "))
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("the file does not fit the format: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// unknownKeys walks a decoded document along the type it should have and
// names every key the type lacks, by its dotted path.
func unknownKeys(v any, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil // a wrong type is the decoder's error
	}
	var out []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	switch t.Kind() {
	case reflect.Map:
		for _, k := range keys {
			out = append(out, unknownKeys(m[k], t.Elem(), join(path, k))...)
		}
	case reflect.Struct:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fields[name] = t.Field(i).Type
		}
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				out = append(out, join(path, k))
				continue
			}
			out = append(out, unknownKeys(m[k], ft, join(path, k))...)
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks the file as far as it can be checked without the
// cluster; each message names the key. The jobs framework checks the run
// settings again (limits, quota) when the component is deployed.
func (c *Config) Validate() error {
	if c.ConfigVersion != ConfigVersion {
		return fmt.Errorf("config_version: want %q, got %q", ConfigVersion, c.ConfigVersion)
	}
	if len(c.Components) == 0 {
		return fmt.Errorf("components: at least one component is required")
	}
	for _, name := range c.Names() {
		comp := c.Components[name]
		at := "components." + name
		if err := jobs.ValidateName(name); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if err := comp.validateBuild(c, name); err != nil {
			return fmt.Errorf("%s.build: %w", at, err)
		}
		switch comp.ComponentType {
		case TypeContinuous:
			if comp.Run.Schedule != "" {
				return fmt.Errorf("%s.run.schedule: a continuous component has no schedule", at)
			}
		case TypeScheduled:
			if comp.Run.Schedule == "" {
				return fmt.Errorf("%s.run.schedule: a scheduled component needs one", at)
			}
			if comp.Run.Port != 0 || comp.Run.Publish != "" || comp.Run.Replicas != 0 {
				return fmt.Errorf("%s.run: port, publish and replicas are for continuous components", at)
			}
		default:
			return fmt.Errorf("%s.component_type: want %s or %s, got %q", at, TypeContinuous, TypeScheduled, comp.ComponentType)
		}
		if comp.Run.Publish != "" && comp.Run.Publish != "/" {
			return fmt.Errorf("%s.run.publish: the platform publishes the whole host: want true or \"/\", got %q", at, comp.Run.Publish)
		}
		if comp.Run.HealthCheckHTTP != "" && comp.Run.HealthCheckScript != "" {
			return fmt.Errorf("%s.run: health_check_http and health_check_script cannot be used together", at)
		}
		// The run settings are those of a job: the jobs framework's own
		// validation answers, with the image a build will make.
		j := comp.Job(name, "tool-x/"+name+":latest")
		j.Normalize()
		if err := j.Validate(); err != nil {
			return fmt.Errorf("%s.run: %w", at, err)
		}
	}
	return nil
}

func (comp *Component) validateBuild(c *Config, name string) error {
	b := comp.Build
	if b.ReuseFrom != "" {
		if b.Repository != "" || b.Ref != "" || b.UseLatestVersions || len(b.Envvars) > 0 {
			return fmt.Errorf("reuse_from takes the other component's build: repository, ref and the build options go there")
		}
		src, ok := c.Components[b.ReuseFrom]
		if !ok {
			return fmt.Errorf("reuse_from: there is no component %q", b.ReuseFrom)
		}
		if src.Build.ReuseFrom != "" || b.ReuseFrom == name {
			return fmt.Errorf("reuse_from: component %q does not build its own image", b.ReuseFrom)
		}
		return nil
	}
	if b.Repository == "" {
		return fmt.Errorf("repository (or reuse_from) is required")
	}
	if err := builds.ValidateSourceURL(b.Repository); err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	if b.Ref != "" {
		if err := builds.ValidateRef(b.Ref); err != nil {
			return fmt.Errorf("ref: %w", err)
		}
	}
	for k := range b.Envvars {
		if err := builds.ValidateEnvvarName(k); err != nil {
			return fmt.Errorf("envvars: %w", err)
		}
	}
	return nil
}

// Names are the components' names, those that build first.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Components))
	for n := range c.Components {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := c.Components[names[i]].Build.ReuseFrom != "", c.Components[names[j]].Build.ReuseFrom != ""
		if ri != rj {
			return rj
		}
		return names[i] < names[j]
	})
	return names
}

// BuildSource is the component whose build gives name its image (itself,
// or the one it reuses).
func (c *Config) BuildSource(name string) string {
	if from := c.Components[name].Build.ReuseFrom; from != "" {
		return from
	}
	return name
}

// Job is the jobs-framework job the component runs, on image.
func (comp *Component) Job(name, image string) *jobs.Job {
	r := comp.Run
	j := &jobs.Job{
		Name: name, Command: r.Command, Image: image,
		CPU: r.CPU, Memory: r.Memory, Emails: r.Emails,
		Filelog: r.Filelog, FilelogStdout: r.FilelogStdout, FilelogStderr: r.FilelogStderr,
		Mount: r.Mount, Port: r.Port, PortProtocol: r.PortProtocol, Publish: r.Publish != "",
		Replicas: r.Replicas, Schedule: r.Schedule, Retry: r.Retry, Timeout: r.Timeout,
		Continuous: comp.ComponentType == TypeContinuous,
	}
	switch {
	case r.HealthCheckHTTP != "":
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthHTTP, Path: r.HealthCheckHTTP}
	case r.HealthCheckScript != "":
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthScript, Script: r.HealthCheckScript}
	}
	return j
}

// Marshal is the file as YAML, as `config show` prints it.
func (c *Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }
