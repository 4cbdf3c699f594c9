package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTheAPIURLComesFromTheFlagThenTheEnvironmentThenCommonYAML(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("not used to connect here"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := filepath.Join(dir, "common.yaml")
	if err := os.WriteFile(common, []byte("api_gateway:\n  url: https://from-common.example:30003\nother: setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCommonConfig, common)
	t.Setenv(EnvAPICAFile, ca)
	// With a URL and a CA found, the cluster's ConfigMap is not asked (the
	// tool is nil: asking would panic).
	cases := []struct {
		name, flag, env, want string
	}{
		{"the flag wins", "https://from-flag.example", "https://from-env.example", "https://from-flag.example"},
		{"then the environment", "", "https://from-env.example", "https://from-env.example"},
		{"then common.yaml", "", "", "https://from-common.example:30003"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAPIURL, tc.env)
			ep, err := discoverAPI(&apiFlags{URL: tc.flag}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL != tc.want {
				t.Fatalf("URL = %q, want %q", ep.URL, tc.want)
			}
			if string(ep.CA) != "not used to connect here" {
				t.Fatalf("CA from $%s not used", EnvAPICAFile)
			}
		})
	}
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
	ep, err := discoverAPI(&apiFlags{URL: "https://x.example", CAFile: a}, nil)
	if err != nil || string(ep.CA) != "A" {
		t.Fatalf("CA = %q, %v", ep.CA, err)
	}
	t.Setenv(EnvAPICAFile, filepath.Join(dir, "missing.crt"))
	if _, err := discoverAPI(&apiFlags{URL: "https://x.example"}, nil); err == nil {
		t.Fatal("a missing CA file must be an error, not silently the system roots")
	}
}
