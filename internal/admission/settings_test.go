package admission

import (
	"reflect"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/images"
)

func TestParseSettings(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"every field is accepted", `
registries: [docker-registry.tools.wmflabs.org, "registry.example.org:5000"]
domains: [toolforge.org, toolforge.example]
mounts:
  - {claim: tool-home, mountPath: "/data/project/{tool}"}
  - {claim: tool-dumps, readOnly: true}
exceptions:
  alpha: {registries: [quay.io], ingressHosts: [alpha.example.org]}
`, ""},
		{"nothing is accepted", ``, ""},
		{"an unknown field is an error", `registry: [quay.io]`, `unknown field "registry"`},
		{"a registry with a scheme is an error", `registries: ["https://quay.io"]`, "registries:"},
		{"a registry with a path is an error", `registries: [quay.io/org]`, "is not a registry host"},
		{"a registry with a bad port is an error", `registries: ["quay.io:99999"]`, "the port must be a number from 1 to 65535"},
		{"a domain with a wildcard is an error", `domains: ["*.toolforge.org"]`, "domains:"},
		{"a relative mount path is an error", `mounts: [{claim: tool-home, mountPath: data}]`, "mounts[0].mountPath"},
		{"an exception for an invalid tool name is an error", `exceptions: {Alpha: {}}`, "exceptions:"},
		{"an exception host that is a pattern is an error", `exceptions: {alpha: {ingressHosts: ["*.example.org"]}}`, "exceptions.alpha.ingressHosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSettings([]byte(tc.yaml))
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNoSettingsMeanTheCataloguesRegistryAndToolforgeOrg(t *testing.T) {
	e := (&Settings{}).effective(images.Builtin().Registries())
	if !reflect.DeepEqual(e.Registries, []string{images.Registry}) || !reflect.DeepEqual(e.Domains, []string{"toolforge.org"}) {
		t.Errorf("defaults: registries %v, domains %v", e.Registries, e.Domains)
	}
}

func TestTheConfigMapOverridesTheFileFieldByField(t *testing.T) {
	file := &Settings{
		Registries: []string{"a.example"},
		Domains:    []string{"file.example"},
		Exceptions: map[string]Exception{"alpha": {Registries: []string{"quay.io"}}, "beta": {Registries: []string{"ghcr.io"}}},
	}
	over := &Settings{
		Domains:    []string{"cm.example"},
		Exceptions: map[string]Exception{"beta": {IngressHosts: []string{"beta.example.org"}}},
	}
	e := file.merge(over).effective(nil)
	if !reflect.DeepEqual(e.Registries, []string{"a.example"}) || !reflect.DeepEqual(e.Domains, []string{"cm.example"}) {
		t.Errorf("registries %v (want the file's), domains %v (want the ConfigMap's)", e.Registries, e.Domains)
	}
	if got := e.RegistriesFor("alpha"); !reflect.DeepEqual(got, []string{"a.example", "quay.io"}) {
		t.Errorf("alpha's registries = %v", got)
	}
	if got := e.RegistriesFor("beta"); !reflect.DeepEqual(got, []string{"a.example"}) {
		t.Errorf("beta's registries = %v: the ConfigMap's exception for beta replaces the file's", got)
	}
}

func TestParamsCarryDomainsAndExceptionHosts(t *testing.T) {
	e := (&Settings{
		Domains:    []string{"toolforge.org", "toolforge.example"},
		Exceptions: map[string]Exception{"alpha": {IngressHosts: []string{"a.example.org", "b.example.org"}}, "beta": {Registries: []string{"quay.io"}}},
	}).effective(nil)
	got := params("toolforge-system", e).Data
	want := map[string]string{"domains": "toolforge.org,toolforge.example", "hosts.alpha": "a.example.org,b.example.org",
		"ingressClasses": "traefik", "platformUsers": "", "platformGroups": "system:masters,system:serviceaccounts:toolforge-system"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("params = %v, want %v", got, want)
	}
}
