package webservice

import (
	"slices"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/images"
)

func TestLookupType(t *testing.T) {
	cat, err := images.Parse([]byte(`
- {name: python3.11, aliases: [tf-python311], jobs: r/py-base, web: r/py-web}
- {name: bookworm, jobs: r/bookworm-base}
`))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := LookupType(cat, "tf-python311"); err != nil || img.Name != "python3.11" || img.Web != "r/py-web" {
		t.Errorf("alias: %+v %v", img, err)
	}
	_, err = LookupType(cat, "bookworm")
	if err == nil || !strings.Contains(err.Error(), `unknown webservice type "bookworm"; available types: python3.11`) {
		t.Errorf("an image without a web variant is not a type: %v", err)
	}
	_, err = LookupType(images.Builtin(), "cobol")
	if err == nil || !strings.Contains(err.Error(), "available types: bookworm, golang1.11, golang1.21, jdk17, mono6.8, node16, node18, node20, perl5.32, perl5.36, php7.4, php8.2, python3.11, python3.13, python3.9, ruby2.1, ruby2.7, ruby3.1, tcl8.6") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestOnlyStableTypesAreOfferedInsteadOfADeprecatedOne(t *testing.T) {
	stable := StableTypes(images.Builtin())
	for _, deprecated := range []string{"php7.4", "python3.9", "node16", "golang1.11"} {
		if slices.Contains(stable, deprecated) {
			t.Errorf("deprecated %s offered among %v", deprecated, stable)
		}
	}
	for _, want := range []string{"php8.2", "python3.11", "node20"} {
		if !slices.Contains(stable, want) {
			t.Errorf("%s missing from %v", want, stable)
		}
	}
}
