package webservice

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveDomain(t *testing.T) {
	dir := t.TempDir()
	withDomain := filepath.Join(dir, "common.yaml")
	writeFile(t, withDomain, "api_gateway: {url: https://api}\ndomain: toolforge.example\n")
	absent := filepath.Join(dir, "absent.yaml")
	cases := []struct {
		name, flag, env, file, published, want string
	}{
		{"the default is toolforge.org", "", "", absent, "", "toolforge.org"},
		{"the platform's published domain overrides the default", "", "", absent, "toolforge.localhost", "toolforge.localhost"},
		{"the common configuration file overrides the published domain", "", "", withDomain, "toolforge.localhost", "toolforge.example"},
		{"the environment overrides the file", "", "env.example", withDomain, "", "env.example"},
		{"the flag overrides everything", "flag.example.", "env.example", withDomain, "toolforge.localhost", "flag.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveDomain(tc.flag, func(string) string { return tc.env }, tc.file, func() (string, error) { return tc.published, nil })
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ResolveDomain("Not A Domain", func(string) string { return "" }, "", nil); err == nil || !strings.Contains(err.Error(), "--domain") {
		t.Errorf("a bad domain: err = %v", err)
	}
}
