package tenancy

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"demo", true},
		{"a", true},
		{"my-tool-2", true},
		{strings.Repeat("a", 53), true},
		{strings.Repeat("a", 54), false},
		{"", false},
		{"-lead", false},
		{"trail-", false},
		{"Upper", false},
		{"dot.ted", false},
		{"under_score", false},
		{"sp ace", false},
		{"../etc", false},
	}
	for _, tc := range cases {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestNamespaceRoundTrips(t *testing.T) {
	if ns := Namespace("demo"); ns != "tool-demo" {
		t.Fatalf("Namespace = %q", ns)
	}
	if tool, ok := ToolOfNamespace("tool-demo"); !ok || tool != "demo" {
		t.Fatalf("ToolOfNamespace = %q %v", tool, ok)
	}
	for _, ns := range []string{"kube-system", "tool-", "tools-x"} {
		if _, ok := ToolOfNamespace(ns); ok {
			t.Errorf("%q taken for a tool namespace", ns)
		}
	}
}

func TestAnotherContextNamesItsOwnUserAndCredentials(t *testing.T) {
	cases := []struct {
		ctx, user, dir string
	}{
		{"", "tf-demo", ".toolskube"},
		{"toolforge", "tf-demo", ".toolskube"},
		{"default", "default-demo", ".toolskube-default"},
	}
	for _, tc := range cases {
		if got := ToolUserName("demo", tc.ctx); got != tc.user {
			t.Errorf("ToolUserName(demo, %q) = %q, want %q", tc.ctx, got, tc.user)
		}
		if got := CredentialDir(ToolCertDir, tc.ctx); got != tc.dir {
			t.Errorf("CredentialDir(%q) = %q, want %q", tc.ctx, got, tc.dir)
		}
	}
	for _, bad := range []string{"", "Default", "a/b", "..", "-x"} {
		if ValidateContextName(bad) == nil {
			t.Errorf("ValidateContextName(%q) accepted", bad)
		}
	}
}

func TestAWebURLIsTheTemplateWithTheHost(t *testing.T) {
	for _, tc := range []struct{ name, template, want string }{
		{"no template is the production platform's, HTTPS", "", "https://demo.toolforge.org/"},
		{"a devcluster's names the ingress port", "http://{host}:8000/", "http://demo.toolforge.org:8000/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WebURL(tc.template, "demo.toolforge.org"); got != tc.want {
				t.Fatalf("WebURL(%q) = %q, want %q", tc.template, got, tc.want)
			}
		})
	}
}
