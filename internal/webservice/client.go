package webservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/internal/images"
)

// Client acts on one tool's web service, with the tool's own credentials,
// in the tool's namespace only.
type Client struct {
	Kube kubernetes.Interface
	// Config is the same credentials as Kube, for streams (shell attach).
	Config    *rest.Config
	Tool      string
	Namespace string
	Home      string
	Domain    string
	// WebURL is the template of the public URL start prints ({host}:
	// <tool>.<Domain>); empty is the production platform's, HTTPS.
	WebURL string
	// BuildsRegistry is the host of tools' built images ("": read what
	// the platform publishes when needed).
	BuildsRegistry    string
	PlatformNamespace string
	// Out gets the lines users' scripts rely on ("Starting webservice");
	// ErrOut gets progress and notes.
	Out    io.Writer
	ErrOut io.Writer
	// Timeout bounds each wait: for a previous instance to finish going
	// away, for pods to become ready, for a shell pod to start.
	Timeout time.Duration
	// Poll is how often a wait looks again (default 250ms).
	Poll time.Duration
	// WithoutHome acts without the tool's home: no manifest or template
	// is read or written, the settings come from Options alone. An admin
	// moving a tool's web service (toolforge-admin migration force) works
	// so, and never writes into a home as root.
	WithoutHome bool
}

// DefaultTimeout is how long start, restart, stop and shell wait.
const DefaultTimeout = 2 * time.Minute

// ManifestPath is the tool's service.manifest.
func (c *Client) ManifestPath() string { return filepath.Join(c.Home, ManifestFile) }

// TemplatePath is the tool's default service.template.
func (c *Client) TemplatePath() string { return filepath.Join(c.Home, TemplateFile) }

// Template reads the template at path (--template), by default the tool's
// service.template, and warns on ErrOut, in the original's words, about
// keys it does not know. It returns the path read.
func (c *Client) Template(path string) (string, Template, error) {
	name := path
	if path == "" {
		path, name = c.TemplatePath(), TemplateFile
	}
	t, err := ReadTemplate(path)
	if err != nil {
		return path, Template{}, inputError(err)
	}
	if len(t.Unknown) > 0 {
		fmt.Fprintf(c.ErrOut, "Your template file (%s) contains unknown keys: %s\n", name, strings.Join(t.Unknown, ", "))
	}
	return path, t, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return 250 * time.Millisecond
}

// InputError is bad input from the user (a setting out of bounds, an
// unknown type): the command line reports it with exit code 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputError(err error) error {
	var ie *InputError
	if err == nil || errors.As(err, &ie) {
		return err
	}
	return &InputError{Err: err}
}

// Options are what start, restart and shell are asked for on the command
// line.
type Options struct {
	Flags Choices
	// Template is the defaults file (default <home>/service.template).
	Template string
	// ExtraArgs, when not nil, are the runner's arguments, before the
	// template's (a migration keeps those the web service runs with).
	ExtraArgs []string
}

// prepared is a web service ready to be made: settings resolved and
// checked, objects' spec built, the manifest read.
type prepared struct {
	settings Settings
	spec     Spec
	manifest *Manifest
}

// prepare resolves the settings (flags, then manifest, then template, then
// defaults) and checks them against the catalogue and the namespace's
// limits, before anything is created.
func (c *Client) prepare(ctx context.Context, o Options, shell bool) (*prepared, error) {
	flags := FlagSource(o.Flags)
	flags.ExtraArgs = o.ExtraArgs
	sources := []Source{flags}
	m := &Manifest{}
	if !c.WithoutHome {
		var err error
		if m, err = ReadManifest(c.ManifestPath()); err != nil {
			return nil, err
		}
		tmplPath, tmpl, err := c.Template(o.Template)
		if err != nil {
			return nil, err
		}
		sources = append(sources, Source{Name: c.ManifestPath(), Choices: m.Choices()},
			Source{Name: tmplPath, Choices: tmpl.Choices, ExtraArgs: tmpl.ExtraArgs})
	}
	s, err := Resolve(sources...)
	if err != nil {
		return nil, inputError(err)
	}
	if s.Type == BuildserviceType {
		return c.prepareBuildservice(ctx, s, m, shell)
	}
	if s.BuildserviceImage != "" || s.Mount != "" {
		return nil, inputError(fmt.Errorf("--buildservice-image and --mount are for the buildservice type only (webservice buildservice start); type %s runs a catalogue image over the tool's home", s.Type))
	}
	// The tool reads the catalogue itself (the accounts controller lets
	// every tool read that one ConfigMap), so web services and jobs run
	// the images the admins chose.
	cat, err := images.Load(ctx, c.Kube.CoreV1().ConfigMaps(c.PlatformNamespace))
	if err != nil {
		return nil, err
	}
	img, err := LookupType(cat, s.Type)
	if err != nil {
		if o := s.origins[fieldType]; !o.source.Flags {
			err = fmt.Errorf("%w (%s)", err, s.Describe(fieldType))
		}
		return nil, inputError(err)
	}
	s.Type = img.Name
	if img.State == images.StateDeprecated {
		fmt.Fprintf(c.ErrOut, "warning: webservice type %s is deprecated; consider one of %s\n", img.Name, strings.Join(StableTypes(cat), ", "))
	}
	return c.finishPrepare(ctx, s, m, shell, Spec{
		Tool: c.Tool, Namespace: c.Namespace, Domain: c.Domain, Type: img.Name, Image: img.Web, Args: s.ExtraArgs,
	})
}

// finishPrepare checks the settings against the namespace's limits and
// completes the spec.
func (c *Client) finishPrepare(ctx context.Context, s Settings, m *Manifest, shell bool, sp Spec) (*prepared, error) {
	if shell {
		// A shell is one pod, whatever the web service's replicas.
		s.Replicas = 1
	}
	limits, err := ReadLimits(ctx, c.Kube, c.Namespace)
	if err != nil {
		return nil, err
	}
	if err := limits.Check(s); err != nil {
		return nil, inputError(err)
	}
	sp.Replicas, sp.Resources = s.Replicas, limits.Resources(s)
	return &prepared{settings: s, manifest: m, spec: sp}, nil
}
