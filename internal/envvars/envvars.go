// Package envvars is the envvars API's contract between the CLI and the API
// server: a variable, the rules for its name and value, and the request
// and response bodies. It links no server code; internal/envvars/server
// stores the variables and serves the API under /envvars/v1.
package envvars

import (
	"fmt"
	"regexp"
	"strings"
)

// Envvar is one variable.
type Envvar struct {
	Name string `json:"name"`
	// Value is left out of lists unless asked for.
	Value string `json:"value,omitempty"`
}

// Limits of a tool's variables.
const (
	// MaxValue is the largest value.
	MaxValue = 1 << 20
	// MaxTotal keeps the Secret (names, values and metadata) under the
	// 1 MiB Kubernetes allows for one Secret.
	MaxTotal = MaxValue - 16<<10
	// MaxCount is the most variables a tool may have.
	MaxCount = 100
)

var nameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// Reserved are the names the platform sets in every pod; a tool's own
// value would be overridden or would break its pods.
var Reserved = []string{"HOME", "TOOL_DATA_DIR", "USER", "LOGNAME", "PATH"}

// reservedPrefixes are name spaces the platform and Kubernetes own.
var reservedPrefixes = []string{"TOOLFORGE_", "KUBERNETES_"}

// ValidateName checks a variable's name.
func ValidateName(name string) error {
	if len(name) > 253 || !nameRE.MatchString(name) {
		return fmt.Errorf("invalid envvar name %q: use upper case letters, digits and '_', not starting with a digit (e.g. MY_API_TOKEN)", name)
	}
	for _, r := range Reserved {
		if name == r {
			return fmt.Errorf("envvar name %q is reserved: the platform sets it in every pod", name)
		}
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("envvar name %q is reserved: names starting with %s belong to the platform", name, p)
		}
	}
	return nil
}

// ValidateValue checks a variable's value.
func ValidateValue(value string) error {
	if len(value) > MaxValue {
		return fmt.Errorf("envvar value is %d bytes; at most %d (1 MiB) are allowed", len(value), MaxValue)
	}
	if strings.ContainsRune(value, 0) {
		return fmt.Errorf("envvar value must not contain NUL characters")
	}
	return nil
}
