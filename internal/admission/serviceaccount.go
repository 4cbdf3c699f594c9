package admission

import (
	"fmt"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// defaultServiceAccount is every namespace's own ServiceAccount, with no
// rights in a tool's namespace.
const defaultServiceAccount = "default"

// checkServiceAccount lets a tool's pods run as its namespace's default
// ServiceAccount or as its own observer ServiceAccount (<t>-obs, which
// exists only while an admin grants it), and as no other: a ServiceAccount
// an admin made in the namespace for something else is not the tool's to
// use. Another tool's observer account is in another namespace, which the
// API server refuses by itself.
func checkServiceAccount(t *podTarget) []string {
	if !t.podLevel {
		return nil
	}
	sa := t.spec.ServiceAccountName
	if sa == "" {
		sa = t.spec.DeprecatedServiceAccount
	}
	observer := tenancy.ObserverServiceAccount(t.tool.Name)
	if sa == "" || sa == defaultServiceAccount || sa == observer {
		return nil
	}
	return []string{fmt.Sprintf("%s: ServiceAccount %q is not allowed (allowed: %s, %s when an admin granted observer access); remove the field or set it to %s",
		t.path.Child("serviceAccountName"), sa, defaultServiceAccount, observer, observer)}
}
