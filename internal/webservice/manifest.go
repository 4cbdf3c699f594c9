package webservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"
)

// Files in a tool's home.
const (
	ManifestFile = "service.manifest"
	TemplateFile = "service.template"
)

// Backend is the only backend there is; the key stays in the manifest so
// that `grep kubernetes service.manifest` (the seeds' advice) still works.
const Backend = "kubernetes"

const manifestHeader = "# This file is used by Toolforge infrastructure.\n# Please do not edit manually at this time.\n"

// Manifest is <home>/service.manifest: the settings the web service was
// last started with, and whether it runs. Keys it does not know (written by
// older tools) are kept as they are.
type Manifest struct {
	Backend string
	Type    string
	CPU     string
	Mem     string
	// Replicas is kept as text so that a hand-edited value reaches Resolve
	// and gets its error message there.
	Replicas string
	// Web is the type while the web service runs and empty once stopped
	// (the original's running state).
	Web string
	// BuildserviceImage and Mount are the buildservice type's settings.
	BuildserviceImage, Mount string
	other                    map[string]json.RawMessage
}

// scalar reads a YAML value that may be a string or a number (cpu: 0.5).
type scalar string

func (s *scalar) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = scalar(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*s = scalar(n.String())
	return nil
}

// fileKeys are the keys the manifest and the template share.
type fileKeys struct {
	Backend  scalar `json:"backend"`
	Type     scalar `json:"type"`
	CPU      scalar `json:"cpu"`
	Mem      scalar `json:"mem"`
	Replicas scalar `json:"replicas"`
	Web      scalar `json:"web"`
	Image    scalar `json:"buildservice-image"`
	Mount    scalar `json:"mount"`
}

var knownManifestKeys = []string{"backend", "type", "cpu", "mem", "replicas", "web", "buildservice-image", "mount"}

// ReadManifest reads the manifest at path; a missing file is an empty
// manifest (a web service never started).
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Manifest{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML (fix or remove it): %w", path, err)
	}
	var k fileKeys
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s (fix or remove it): %w", path, err)
	}
	for _, key := range knownManifestKeys {
		delete(raw, key)
	}
	m := &Manifest{Backend: string(k.Backend), Type: string(k.Type), CPU: string(k.CPU), Mem: string(k.Mem),
		Replicas: string(k.Replicas), Web: string(k.Web), BuildserviceImage: string(k.Image), Mount: string(k.Mount), other: raw}
	// Manifests of the original name the type only under web.
	if m.Type == "" {
		m.Type = m.Web
	}
	return m, nil
}

// Running says whether the manifest records a running web service.
func (m *Manifest) Running() bool { return m.Web != "" }

// Choices are the manifest's settings.
func (m *Manifest) Choices() Choices {
	return Choices{Type: m.Type, CPU: m.CPU, Mem: m.Mem, Replicas: m.Replicas, BuildserviceImage: m.BuildserviceImage, Mount: m.Mount}
}

// SetRunning records that the web service runs with s.
func (m *Manifest) SetRunning(s Settings) {
	c := s.Choices()
	m.Backend, m.Type, m.CPU, m.Mem, m.Replicas, m.Web = Backend, c.Type, c.CPU, c.Mem, c.Replicas, c.Type
	m.BuildserviceImage, m.Mount = c.BuildserviceImage, c.Mount
}

// SetStopped clears the running state and keeps the settings, so the next
// start without arguments starts the same web service.
func (m *Manifest) SetStopped() { m.Web = "" }

// Marshal is the manifest's file content.
func (m *Manifest) Marshal() ([]byte, error) {
	out := map[string]any{}
	for k, v := range m.other {
		out[k] = v
	}
	set := func(key, value string) {
		if value != "" {
			out[key] = value
		}
	}
	set("backend", m.Backend)
	set("type", m.Type)
	set("cpu", m.CPU)
	set("mem", m.Mem)
	set("web", m.Web)
	set("buildservice-image", m.BuildserviceImage)
	set("mount", m.Mount)
	if m.Replicas != "" {
		n := json.Number(m.Replicas)
		if _, err := n.Int64(); err == nil {
			out["replicas"] = n
		} else {
			out["replicas"] = m.Replicas
		}
	}
	body, err := yaml.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append([]byte(manifestHeader), body...), nil
}

// Write replaces the manifest at path atomically: the tool runs this
// command as itself in its own home, so a temporary file renamed over the
// old one is enough for a reader never to see half a file.
func (m *Manifest) Write(path string) error {
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeAtomic(path, data, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// templateKeys are what service.template may say (the original's keys
// this version knows).
var templateKeys = []string{"backend", "type", "cpu", "mem", "replicas", "extra_args"}

// Template is what service.template says: the tool's defaults.
type Template struct {
	Choices
	// ExtraArgs are the original's extra_args: the arguments the image's
	// web server runner gets (for most types the command that serves).
	ExtraArgs []string
	// Unknown are the keys this version does not know, sorted. The
	// template applies all the same, as the original's does; the caller
	// warns (a typo such as memory: would otherwise go unnoticed).
	Unknown []string
}

// ReadTemplate reads a service.template; a missing file says nothing. A
// file that is not a mapping of settings is an error naming it.
func ReadTemplate(path string) (Template, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Template{}, nil
	}
	if err != nil {
		return Template{}, fmt.Errorf("read %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return Template{}, fmt.Errorf("your template file %s is not a YAML mapping of settings (type, cpu, mem, replicas, ...): %w", path, err)
	}
	var t Template
	for key := range raw {
		if !slices.Contains(templateKeys, key) {
			t.Unknown = append(t.Unknown, key)
		}
	}
	sort.Strings(t.Unknown)
	var k fileKeys
	if err := yaml.Unmarshal(data, &k); err != nil {
		return Template{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := CheckBackend(string(k.Backend)); err != nil {
		return Template{}, fmt.Errorf("%s: %w", path, err)
	}
	t.Choices = Choices{Type: string(k.Type), CPU: string(k.CPU), Mem: string(k.Mem), Replicas: string(k.Replicas)}
	if args, ok := raw["extra_args"]; ok {
		if t.ExtraArgs, err = readArgs(args); err != nil {
			return Template{}, fmt.Errorf("%s: extra_args: %w", path, err)
		}
	}
	return t, nil
}

// readArgs reads extra_args: a list of arguments, or one argument.
func readArgs(raw json.RawMessage) ([]string, error) {
	var list []scalar
	if err := json.Unmarshal(raw, &list); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = string(a)
		}
		return out, nil
	}
	var one scalar
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("want a list of arguments, got %s", raw)
	}
	return []string{string(one)}, nil
}

// CheckBackend accepts the kubernetes backend (or none given).
func CheckBackend(b string) error {
	switch b {
	case "", Backend:
		return nil
	case "gridengine":
		return fmt.Errorf("backend %q is gone: web services run on Kubernetes only (backend: %s)", b, Backend)
	}
	return fmt.Errorf("unknown backend %q: the only backend is %s", b, Backend)
}
