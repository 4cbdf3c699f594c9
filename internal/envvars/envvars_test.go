package envvars

import (
	"strings"
	"testing"
)

func TestValidateNameAcceptsEnvironmentVariableNamesOnly(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"MY_TOKEN", true},
		{"_PRIVATE", true},
		{"A1", true},
		{"my_token", false},
		{"1ABC", false},
		{"MY-TOKEN", false},
		{"MY TOKEN", false},
		{"", false},
		{"HOME", false},
		{"TOOL_DATA_DIR", false},
		{"TOOLFORGE_SECRET", false},
		{"KUBERNETES_SERVICE_HOST", false},
		{strings.Repeat("A", 254), false},
	}
	for _, tc := range cases {
		if err := ValidateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateValueRefusesMoreThanOneMiB(t *testing.T) {
	if err := ValidateValue(strings.Repeat("x", MaxValue)); err != nil {
		t.Fatalf("1 MiB refused: %v", err)
	}
	err := ValidateValue(strings.Repeat("x", MaxValue+1))
	if err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("1 MiB + 1 byte: %v", err)
	}
	if err := ValidateValue("a\x00b"); err == nil {
		t.Fatal("NUL accepted")
	}
}
