package builds

import (
	"strings"
	"testing"
)

func TestBuildParametersAreCheckedNamingTheField(t *testing.T) {
	ok := func(p Parameters) Parameters {
		if p.SourceURL == "" {
			p.SourceURL = "https://gitlab.example.org/tool/app.git"
		}
		p.Normalize("demo")
		return p
	}
	for _, tc := range []struct {
		name string
		p    Parameters
		want string
	}{
		{"the defaults", ok(Parameters{}), ""},
		{"a branch, an image name and variables", ok(Parameters{Ref: "release/v2", ImageName: "web.v2", Envvars: map[string]string{"PIP_INDEX_URL": "x", "_ab": "y"}}), ""},
		{"no URL", Parameters{}, "a git repository URL is required"},
		{"an ssh URL", ok(Parameters{SourceURL: "git@gitlab.example.org:tool/app.git"}), "want the http:// or https:// URL"},
		{"credentials in the URL", ok(Parameters{SourceURL: "https://u:p@gitlab.example.org/app.git"}), "may not carry credentials"},
		{"a ref with a space", ok(Parameters{Ref: "my branch"}), `ref "my branch" is not a valid git branch`},
		{"a ref starting with a dash", ok(Parameters{Ref: "--upload-pack=x"}), "is not a valid git branch"},
		{"a ref with ..", ok(Parameters{Ref: "a..b"}), "is not a valid git branch"},
		{"an image name with capitals", ok(Parameters{ImageName: "Web"}), `image name "Web" is not a valid repository name`},
		{"an image name with a slash", ok(Parameters{ImageName: "a/b"}), "is not a valid repository name"},
		{"a short variable name", ok(Parameters{Envvars: map[string]string{"AB": "x"}}), "must match '^[A-Za-z_][A-Za-z_0-9]{2,}$', got 'AB'"},
		{"a variable name starting with a digit", ok(Parameters{Envvars: map[string]string{"1ABC": "x"}}), "got '1ABC'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	p := Parameters{SourceURL: " https://x.example/app.git "}
	p.Normalize("demo")
	if p.ImageName != "tool-demo" || p.SourceURL != "https://x.example/app.git" {
		t.Errorf("normalized: %+v", p)
	}
}
