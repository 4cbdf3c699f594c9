package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"sigs.k8s.io/yaml"
)

// LoadChart gets the component's chart at its pinned version: pulled from
// its OCI repository, or read from its directory, whose Chart.yaml must
// then carry the pinned version's semver (a directory is a working tree:
// its version is stamped with the pin's, as make images stamps a package).
func LoadChart(c *Component) (*chart.Chart, error) {
	if dir, ok := c.chartDir(); ok {
		ch, err := loader.LoadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", dir, err)
		}
		if base := semverOf(c.ChartVersion); ch.Metadata.Version != base {
			return nil, fmt.Errorf("chart %s is version %s; the pin %s is of %s", dir, ch.Metadata.Version, c.ChartVersion, base)
		}
		ch.Metadata.Version = c.ChartVersion
		return ch, nil
	}
	ref := strings.TrimPrefix(c.Chart, "oci://") + ":" + c.ChartVersion
	client, err := registryClient(ref, RegistryCredentials{})
	if err != nil {
		return nil, err
	}
	res, err := client.Pull(ref, registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("pull chart %s: %w", c.Chart+":"+c.ChartVersion, err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", ref, err)
	}
	if ch.Metadata.Version != c.ChartVersion {
		return nil, fmt.Errorf("chart %s says it is version %s", ref, ch.Metadata.Version)
	}
	return ch, nil
}

// semverOf is a pinned version without its git hash: 0.1.0-abc1234 ->
// 0.1.0, 0.1.0-rc1-abc1234 -> 0.1.0-rc1.
func semverOf(v string) string {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return v[:i]
	}
	return v
}

// registryClient talks to an OCI registry: over plain HTTP to a loopback
// one (a devcluster's, as go-containerregistry and containerd do),
// HTTPS elsewhere.
func registryClient(ref string, creds RegistryCredentials) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptEnableCache(false)}
	if isLoopback(ref) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if creds.Username != "" {
		opts = append(opts, registry.ClientOptBasicAuth(creds.Username, creds.Password))
	}
	return registry.NewClient(opts...)
}

// RegistryCredentials are what a registry's token service takes (HTTP
// Basic); zero pulls anonymously.
type RegistryCredentials struct{ Username, Password string }

// ReadRegistryCredentials reads a credentials file of one line
// `username:password` (what devcluster writes in DIR/registry/credentials).
func ReadRegistryCredentials(path string) (RegistryCredentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RegistryCredentials{}, fmt.Errorf("registry credentials: %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user == "" || pass == "" || strings.Contains(pass, "\n") {
		return RegistryCredentials{}, fmt.Errorf("registry credentials %s: want one line username:password", path)
	}
	return RegistryCredentials{Username: user, Password: pass}, nil
}

func isLoopback(ref string) bool {
	host := ref
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PackageChart makes the chart archive of dir at version (appVersion
// too: the image's tag), as `helm package` would but reproducibly: files
// sorted, every timestamp created, no owner, so the same commit gives the
// same bytes.
func PackageChart(dir, version string, created time.Time) ([]byte, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	meta := *ch.Metadata
	meta.Version, meta.AppVersion = version, version
	chartYAML, err := yaml.Marshal(meta)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"Chart.yaml": chartYAML}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "Chart.yaml" || rel == ".helmignore" {
			return err
		}
		data, err := os.ReadFile(path)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = created
	tw := tar.NewWriter(gz)
	for _, n := range names {
		h := &tar.Header{Name: meta.Name + "/" + n, Mode: 0o644, Size: int64(len(files[n])), ModTime: created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	// What Helm would refuse, refused here, before anything is pushed.
	if _, err := loader.LoadArchive(bytes.NewReader(buf.Bytes())); err != nil {
		return nil, fmt.Errorf("the packaged chart does not load: %w", err)
	}
	return buf.Bytes(), nil
}

// PushChart pushes a packaged chart to an OCI repository (host/path/name,
// no oci:// and no tag), with creds at the registry's token service, and
// returns its manifest's digest.
func PushChart(data []byte, repository, version string, created time.Time, creds RegistryCredentials) (string, error) {
	ref := repository + ":" + version
	client, err := registryClient(ref, creds)
	if err != nil {
		return "", err
	}
	res, err := client.Push(data, ref, registry.PushOptStrictMode(true), registry.PushOptCreationTime(created.UTC().Format(time.RFC3339)))
	if err != nil {
		return "", fmt.Errorf("push chart %s: %w", ref, err)
	}
	return res.Manifest.Digest, nil
}

// RenderChart renders a chart directory offline, as `helm template` does
// (values checked against its values.schema.json), for a cluster of
// Kubernetes 1.36.
func RenderChart(dir string, values map[string]any, namespace string) (string, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", dir, err)
	}
	in := action.NewInstall(&action.Configuration{})
	in.ReleaseName, in.Namespace = "toolforge", namespace
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.KubeVersion = &chartutil.KubeVersion{Version: "v1.36.0", Major: "1", Minor: "36"}
	rel, err := in.Run(ch, values)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}
