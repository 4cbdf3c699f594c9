package token

import (
	"fmt"
	"testing"
)

func TestGrantGivesEachIdentityExactlyItsScopes(t *testing.T) {
	const catalogue = "toolforge-python311-sssd-base"
	tests := []struct {
		name      string
		who       Identity
		requested string
		want      string // granted scopes, as fmt prints them
	}{
		{"anyone pulls a catalogue image", Anonymous, "repository:" + catalogue + ":pull", "[repository:" + catalogue + ":pull]"},
		{"anyone pulls a tool's image", Anonymous, "repository:tool-demo/web:pull", "[repository:tool-demo/web:pull]"},
		{"no one without credentials pushes a catalogue image", Anonymous, "repository:" + catalogue + ":push,pull", "[repository:" + catalogue + ":pull]"},
		{"no one without credentials pushes a tool's image", Anonymous, "repository:tool-demo/web:pull,push", "[repository:tool-demo/web:pull]"},
		{"no one without credentials deletes", Anonymous, "repository:" + catalogue + ":delete", "[]"},
		{"no one without credentials gets the wildcard", Anonymous, "repository:" + catalogue + ":*", "[]"},
		{"no one without credentials lists the catalog", Anonymous, "registry:catalog:*", "[]"},
		{"builds pushes and deletes a tool's image", Builds, "repository:tool-demo/web:pull,push,delete", "[repository:tool-demo/web:pull,push,delete]"},
		{"builds pushes any tool's image", Builds, "repository:tool-a-b2/my.image_x:push", "[repository:tool-a-b2/my.image_x:push]"},
		{"builds pulls a catalogue image", Builds, "repository:" + catalogue + ":pull", "[repository:" + catalogue + ":pull]"},
		{"builds does not push a catalogue image", Builds, "repository:" + catalogue + ":pull,push", "[repository:" + catalogue + ":pull]"},
		{"builds does not delete a catalogue image", Builds, "repository:" + catalogue + ":delete", "[]"},
		{"builds does not push the platform's image", Builds, "repository:toolforge:push", "[]"},
		{"builds does not push the pause image", Builds, "repository:pause:push", "[]"},
		{"builds does not push above a tool's repositories", Builds, "repository:tool-demo:push", "[]"},
		{"builds does not push below them", Builds, "repository:tool-demo/web/extra:push", "[]"},
		{"builds does not push a look-alike", Builds, "repository:xtool-demo/web:push", "[]"},
		{"builds does not push a tool with no name", Builds, "repository:tool-/web:push", "[]"},
		{"builds does not push with upper case", Builds, "repository:tool-Demo/web:push", "[]"},
		{"builds lists the catalog (the build service finds a tool's images)", Builds, "registry:catalog:*", "[registry:catalog:*]"},
		{"admin pushes a catalogue image", Admin, "repository:" + catalogue + ":pull,push", "[repository:" + catalogue + ":pull,push]"},
		{"admin deletes anything", Admin, "repository:charts/toolforge:delete", "[repository:charts/toolforge:delete]"},
		{"admin lists the catalog", Admin, "registry:catalog:*", "[registry:catalog:*]"},
		{"an unknown scope type is granted to no one", Admin, "plugin:x:pull", "[]"},
		{"unknown actions are dropped", Admin, "repository:x:pull,frobnicate", "[repository:x:pull]"},
		{"a repeated action is granted once", Anonymous, "repository:x:pull,pull", "[repository:x:pull]"},
		{"several scopes are decided one by one", Builds, "repository:tool-demo/web:push repository:" + catalogue + ":pull,push", "[repository:tool-demo/web:push repository:" + catalogue + ":pull]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseScopes([]string{tc.requested})
			if err != nil {
				t.Fatal(err)
			}
			got := Grant(tc.who, req)
			if s := fmt.Sprint(got); s != tc.want && !(tc.want == "[]" && len(got) == 0) {
				t.Errorf("%q asking %s: granted %s, want %s", tc.who, tc.requested, s, tc.want)
			}
		})
	}
}

func TestParseScopesReadsTheSpecificationsForms(t *testing.T) {
	got, err := ParseScopes([]string{"repository:127.0.0.1:5000/a/b:pull,push", "repository:c:pull repository:d:push"})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[repository:127.0.0.1:5000/a/b:pull,push repository:c:pull repository:d:push]" {
		t.Errorf("parsed %s", s)
	}
	for _, bad := range []string{"repository", "repository:name", ":x:pull", "repository:x:"} {
		if _, err := ParseScopes([]string{bad}); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
