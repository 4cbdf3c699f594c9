// Package tenancy names the things that make a tool a tenant: its
// namespace, the labels that identify it, where its credentials live. Every
// component derives these from here so they cannot drift apart.
package tenancy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Labels and label values on tool namespaces (SPEC §4).
const (
	LabelName    = "name"
	LabelTenancy = "tenancy"
	TenancyTool  = "tool"
	LabelTool    = "toolforge.org/tool"
	LabelUID     = "toolforge.org/uid"
	// LabelManagedBy marks objects a platform component owns.
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// PlatformNamespace holds the platform's own objects (leases, settings,
// the image catalogue).
const PlatformNamespace = "toolforge-system"

// Credential files, relative to a home directory.
const (
	ToolCertDir    = ".toolskube"
	AdminCertDir   = ".admkube"
	CertFile       = "client.crt"
	KeyFile        = "client.key"
	KubeconfigDir  = ".kube"
	KubeconfigFile = "config"
	DisabledFile   = "k8s.disabled"
)

// Certificate subject organisations.
const (
	ToolGroup  = "toolforge"
	AdminGroup = "admins"
)

// Kubeconfig entry names.
const (
	ContextName = "toolforge"
	ClusterName = "toolforge"
)

// HomeClaim is the PVC that holds a tool's home directory.
const HomeClaim = "tool-home"

const namespacePrefix = "tool-"

// MaxNameLength keeps tool-<name> and derived object names within
// Kubernetes' limits (label values are at most 63 characters).
const MaxNameLength = 53

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateName says why name cannot be a tool (or admin) name, or nil.
func ValidateName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("name %q is %d characters long; at most %d are allowed", name, len(name), MaxNameLength)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q must consist of lower case letters, digits and '-', and start and end with a letter or digit", name)
	}
	return nil
}

// Namespace is the namespace of tool t.
func Namespace(tool string) string { return namespacePrefix + tool }

// ToolOfNamespace is the tool a namespace belongs to by its name.
func ToolOfNamespace(ns string) (string, bool) {
	tool, ok := strings.CutPrefix(ns, namespacePrefix)
	return tool, ok && tool != ""
}

// UserName is the kubeconfig user entry of tool t.
func UserName(tool string) string { return "tf-" + tool }

// NamespaceLabels are the labels that identify a tool's namespace.
func NamespaceLabels(tool string, uid int64) map[string]string {
	return map[string]string{
		LabelName:    Namespace(tool),
		LabelTenancy: TenancyTool,
		LabelTool:    tool,
		LabelUID:     strconv.FormatInt(uid, 10),
	}
}
