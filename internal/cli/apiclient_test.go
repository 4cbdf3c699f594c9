package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheAPIURLComesFromTheFlagThenTheEnvironmentThenTheClusterThenCommonYAML(t *testing.T) {
	dir := t.TempDir()
	common := filepath.Join(dir, "common.yaml")
	if err := os.WriteFile(common, []byte("api_gateway:\n  url: https://from-common.example:30003\nother: setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCommonConfig, common)
	cluster := func() (apiEndpoint, error) {
		return apiEndpoint{URL: "https://from-cluster.example", CA: []byte("cluster CA")}, nil
	}
	none := func() (apiEndpoint, error) {
		return apiEndpoint{}, errors.New("reading ConfigMap toolforge-system/toolforge-api failed: not found")
	}
	cases := []struct {
		name, flag, env string
		published       func() (apiEndpoint, error)
		want, wantCA    string
	}{
		{"the flag wins", "https://from-flag.example", "https://from-env.example", cluster, "https://from-flag.example", "cluster CA"},
		{"then the environment", "", "https://from-env.example", cluster, "https://from-env.example", "cluster CA"},
		{"then what the tool's cluster publishes", "", "", cluster, "https://from-cluster.example", "cluster CA"},
		{"then common.yaml, for a cluster that publishes none", "", "", none, "https://from-common.example:30003", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAPIURL, tc.env)
			ep, err := discoverAPI(&apiFlags{URL: tc.flag}, tc.published)
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL != tc.want || string(ep.CA) != tc.wantCA {
				t.Fatalf("URL = %q, CA %q; want %q, %q", ep.URL, ep.CA, tc.want, tc.wantCA)
			}
		})
	}
	t.Run("nothing anywhere is an error naming every place", func(t *testing.T) {
		t.Setenv(EnvAPIURL, "")
		t.Setenv(EnvCommonConfig, filepath.Join(dir, "absent.yaml"))
		_, err := discoverAPI(&apiFlags{}, none)
		if err == nil || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "absent.yaml") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTheCAFlagWinsOverTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.crt"), filepath.Join(dir, "b.crt")
	if err := os.WriteFile(a, []byte("A"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvAPICAFile, b)
	unasked := func() (apiEndpoint, error) { panic("the cluster was asked although URL and CA were given") }
	ep, err := discoverAPI(&apiFlags{URL: "https://x.example", CAFile: a}, unasked)
	if err != nil || string(ep.CA) != "A" {
		t.Fatalf("CA = %q, %v", ep.CA, err)
	}
	t.Setenv(EnvAPICAFile, filepath.Join(dir, "missing.crt"))
	if _, err := discoverAPI(&apiFlags{URL: "https://x.example"}, unasked); err == nil {
		t.Fatal("a missing CA file must be an error, not silently the system roots")
	}
}
