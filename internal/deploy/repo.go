// Package deploy deploys the platform's components from a deployment
// control repository (seed 004): files that pin, per cluster, each
// component's chart version and image tag by git hash, plus the cluster's
// values. It installs and upgrades them with the Helm SDK (no helm
// binary), waits for readiness and rolls a failed upgrade back, shows what
// a deploy would change, and reports drift: the deployed version against
// the pin, and the live objects against the release (a server-side dry run
// of the release's objects compared with the live ones, as Flux does).
package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Component is one pinned component of one cluster:
// <dir>/clusters/<cluster>/<component>.yaml.
type Component struct {
	Cluster string `json:"-"`
	Name    string `json:"-"`
	File    string `json:"-"`

	// Chart is where the chart comes from: an OCI reference without tag
	// (oci://host/path/name) or a directory relative to the file.
	Chart string `json:"chart"`
	// ChartVersion is the pinned chart version, <semver>-<short git hash>.
	ChartVersion string `json:"chartVersion"`
	// Image is the pinned platform image; its tag ends in the git hash.
	Image Image `json:"image"`
	// Namespace of the release (default toolforge-system); Release its name
	// (default the component's).
	Namespace string `json:"namespace,omitempty"`
	Release   string `json:"release,omitempty"`
	// Timeout is how long apply waits for readiness (default 5m).
	Timeout Duration `json:"timeout,omitempty"`
	// Values are the cluster's values, over the chart's defaults.
	Values map[string]any `json:"values,omitempty"`
}

// Image is a pinned image.
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

// Ref is repository:tag.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// Duration is a time.Duration written as Go writes one (5m, 90s).
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as 5m: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// DefaultNamespace is the platform's namespace, where tools' CLIs find
// the API and the image catalogue.
const DefaultNamespace = tenancy.PlatformNamespace

const defaultTimeout = 5 * time.Minute

// pinned is a version that names its git commit: anything, then -<7 to
// 40 hex digits>, as make images tags (<version>-<short git hash>).
var pinned = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?-[0-9a-f]{7,40}$`)

var name = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// LoadCluster reads every component of a cluster, sorted by name.
func LoadCluster(dir, cluster string) ([]*Component, error) {
	if !name.MatchString(cluster) {
		return nil, fmt.Errorf("cluster %q: want a name of lower-case letters, digits and '-'", cluster)
	}
	cdir := filepath.Join(dir, "clusters", cluster)
	entries, err := os.ReadDir(cdir)
	if errors.Is(err, os.ErrNotExist) {
		known, _ := Clusters(dir)
		return nil, fmt.Errorf("no cluster %q in %s (known: %s)", cluster, filepath.Join(dir, "clusters"), strings.Join(known, ", "))
	}
	if err != nil {
		return nil, err
	}
	var out []*Component
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".yaml" {
			continue
		}
		c, err := LoadComponent(filepath.Join(cdir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %q has no component files (%s/<component>.yaml)", cluster, cdir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Clusters lists the clusters of a control repository.
func Clusters(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "clusters"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Select picks one component by name ("" keeps all).
func Select(all []*Component, component string) ([]*Component, error) {
	if component == "" {
		return all, nil
	}
	var names []string
	for _, c := range all {
		if c.Name == component {
			return []*Component{c}, nil
		}
		names = append(names, c.Name)
	}
	return nil, fmt.Errorf("no component %q on this cluster (known: %s)", component, strings.Join(names, ", "))
}

// LoadComponent reads and checks one component file.
func LoadComponent(path string) (*Component, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &Component{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.File = path
	c.Name = strings.TrimSuffix(filepath.Base(path), ".yaml")
	c.Cluster = filepath.Base(filepath.Dir(path))
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Release == "" {
		c.Release = c.Name
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = defaultTimeout
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Component) validate() error {
	var errs []error
	if !name.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("component name %q (the file's name): want lower-case letters, digits and '-'", c.Name))
	}
	if c.Chart == "" {
		errs = append(errs, errors.New("chart: required (oci://host/path/name, or a directory relative to this file)"))
	}
	if !pinned.MatchString(c.ChartVersion) {
		errs = append(errs, fmt.Errorf("chartVersion %q: want a version pinned by git hash, <semver>-<short git hash> (make images prints it)", c.ChartVersion))
	}
	if c.Image.Repository == "" {
		errs = append(errs, errors.New("image.repository: required"))
	}
	if !pinned.MatchString(c.Image.Tag) {
		errs = append(errs, fmt.Errorf("image.tag %q: want a tag pinned by git hash, <version>-<short git hash> (make images prints it)", c.Image.Tag))
	}
	if !name.MatchString(c.Namespace) || !name.MatchString(c.Release) {
		errs = append(errs, fmt.Errorf("namespace %q and release %q: want lower-case letters, digits and '-'", c.Namespace, c.Release))
	}
	if c.Timeout.Duration < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// chartDir is the chart's directory when Chart names one.
func (c *Component) chartDir() (string, bool) {
	if strings.HasPrefix(c.Chart, "oci://") {
		return "", false
	}
	if filepath.IsAbs(c.Chart) {
		return c.Chart, true
	}
	return filepath.Join(filepath.Dir(c.File), c.Chart), true
}

// HelmValues are the values given to the chart: the file's, with the
// pinned image.
func (c *Component) HelmValues() map[string]any {
	vals := deepCopy(c.Values)
	img, _ := vals["image"].(map[string]any)
	if img == nil {
		img = map[string]any{}
	}
	img["repository"], img["tag"] = c.Image.Repository, c.Image.Tag
	vals["image"] = img
	return vals
}

func deepCopy(m map[string]any) map[string]any {
	out := map[string]any{}
	if m == nil {
		return out
	}
	// Values came from YAML: a JSON round trip copies them exactly.
	b, err := yaml.Marshal(m)
	if err == nil {
		err = yaml.Unmarshal(b, &out)
	}
	if err != nil {
		panic(fmt.Sprintf("copy values: %v", err))
	}
	return out
}
