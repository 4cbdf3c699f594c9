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

// Kubeconfig entry names. ContextName is the default context (and
// cluster) of the platform's entries; a cluster introduced beside another
// one during a migration may use another (`toolforged accounts
// --context-name`), whose entries and credentials are then named after it.
const (
	ContextName = "toolforge"
	ClusterName = "toolforge"
)

// ValidateContextName says why name cannot name a kubeconfig context of
// the platform (it also names a credentials directory), or nil.
func ValidateContextName(name string) error {
	if len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return fmt.Errorf("context name %q must be at most %d lower case letters, digits and '-', starting and ending with a letter or digit", name, MaxNameLength)
	}
	return nil
}

// CredentialDir is the credentials directory (base ToolCertDir or
// AdminCertDir) of context ctx: base itself for the default context, so
// that single-cluster homes look as they always did, and base-<ctx> for
// another, so two clusters' certificates never overwrite each other.
func CredentialDir(base, ctx string) string {
	if ctx == "" || ctx == ContextName {
		return base
	}
	return base + "-" + ctx
}

// ToolUserName is the kubeconfig user entry of tool t in context ctx:
// tf-<t> for the default context, <ctx>-<t> for another, so that each
// cluster's entry points at its own certificate.
func ToolUserName(tool, ctx string) string {
	if ctx == "" || ctx == ContextName {
		return UserName(tool)
	}
	return ctx + "-" + tool
}

// PlatformClaimPrefix begins the name of every PVC the platform makes in
// a tool namespace (the home, tool-<name> per shared data); admission
// keeps such names for the platform.
const PlatformClaimPrefix = "tool-"

// HomeClaim is the PVC that holds a tool's home directory.
const HomeClaim = PlatformClaimPrefix + "home"

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

// Objects in a tool's namespace that platform components share.
const (
	// EnvvarsSecret holds a tool's environment variables, one data key per
	// variable; admission injects them into the tool's pods.
	EnvvarsSecret = "toolforge-envvars" //nolint:gosec // G101: the name of a Secret, not a credential
)

// ConfigMaps in the platform namespace.
const (
	// ImagesConfigMap overrides the built-in image catalogue.
	ImagesConfigMap = "toolforge-images"
	// AdmissionConfigMap holds the admission settings (registries, domains,
	// per-tool exceptions).
	AdmissionConfigMap = "toolforge-admission"
	// APIConfigMap publishes the jobs/envvars API's URL and CA bundle to
	// tools (any authenticated tool may read it).
	APIConfigMap = "toolforge-api"
)

// Keys of the APIConfigMap.
const (
	APIConfigURL    = "url"
	APIConfigCA     = "ca.crt"
	APIConfigDomain = "domain"
	// APIConfigWebURL is the template of a web service's public URL:
	// {host} is <tool>.<domain>.
	APIConfigWebURL = "webURL"
	// APIConfigBuildsRegistry is the registry host of tools' built images
	// (empty: no build service), for webservice buildservice.
	APIConfigBuildsRegistry = "buildsRegistry"
)

// DefaultWebURL is the production platform's: HTTPS on the default port.
const DefaultWebURL = "https://{host}/"

// WebURL is the public URL of a host by the platform's template.
func WebURL(template, host string) string {
	if template == "" {
		template = DefaultWebURL
	}
	return strings.ReplaceAll(template, "{host}", host)
}

// The jobs/envvars API server's identity and roles. Its writes are bound
// per tool namespace (RoleBinding APIRole in tool-<t>, made by the accounts
// controller with the tool), so it can write nowhere else.
const (
	// APIRole is the ClusterRole of what the API does in a tool namespace,
	// the RoleBinding of it there, and the Role in the platform namespace.
	APIRole = "toolforge-api"
	// APIServiceAccount is the API's default identity, in the platform
	// namespace.
	APIServiceAccount = "toolforge-api"
)

// Labels of workloads the platform makes for tools (SPEC §6, §7).
const (
	LabelToolforge  = "toolforge"
	ToolforgeTool   = "tool"
	LabelCreatedBy  = "app.kubernetes.io/created-by"
	LabelComponent  = "app.kubernetes.io/component"
	LabelAppName    = "app.kubernetes.io/name"
	ManagedByJobs   = "toolforge-jobs-framework"
	ManagedByWeb    = "webservice"
	ComponentWeb    = "web"
	ComponentShell  = "webservice-interactive"
	ComponentJobs   = "jobs"
	ComponentCron   = "cronjobs"
	ComponentDeploy = "deployments"
)

// EmailsLabel on a job's pods is its --emails setting (none, all,
// onfinish, onfailure): the notifier picks the pods to watch by it, as
// the original's jobs-emailer does.
const EmailsLabel = "jobs.toolforge.org/emails"

// MountStorageLabel on a pod chooses whether the tool's storage is mounted
// (all, the default) or not (none).
const MountStorageLabel = "toolforge.org/mount-storage"

// Default addresses of `toolforged all` (SPEC §2).
const (
	DefaultAPIAddr       = "127.0.0.1:8443"
	DefaultAdmissionAddr = "127.0.0.1:9443"
	DefaultStatusAddr    = "127.0.0.1:8080"
	DefaultDomain        = "toolforge.org"
)

// The platform's PVCs in a tool namespace (its home, shared data) carry
// where they are mounted; admission mounts them into the tool's pods.
const (
	LabelPlatformClaim  = "toolforge.org/platform-claim"
	AnnotationMountPath = "toolforge.org/mount-path"
	AnnotationReadOnly  = "toolforge.org/read-only"
)

// HomeMountPath is where a tool's home appears in its pods.
func HomeMountPath(tool string) string { return "/data/project/" + tool }

// Observer access (the original's wmcs-enable-cluster-monitor, declared
// instead of scripted): an admin labels a tool's namespace, and the
// accounts controller keeps ServiceAccount <t>-obs in it bound to
// ClusterRole ObserverRole, read-only access to non-sensitive kinds
// cluster-wide. Tools cannot label their namespace; the grant goes with
// the label, and with the tool.
const (
	LabelObserver   = "toolforge.org/observer"
	ObserverEnabled = "enabled"
	ObserverRole    = "tool-observer"
)

// ObserverServiceAccount is the ServiceAccount of tool t's observer access,
// in its namespace; its pods use it with serviceAccountName.
func ObserverServiceAccount(tool string) string { return tool + "-obs" }

// ObserverBinding is the ClusterRoleBinding of tool t's observer access.
func ObserverBinding(tool string) string { return "tool-observer-" + tool }

// AnnotationQuota on a tool's namespace holds the admins' per-tool quota
// overrides (a JSON object of ResourceQuota keys to quantities, written by
// toolforge-admin quota set), which the accounts controller applies over
// the defaults and the quotas file. Tools cannot change their namespace.
const AnnotationQuota = "toolforge.org/quota-overrides"

// The marker ConfigMap in each tool namespace records what the accounts
// controller provisioned; deleting it makes the controller regenerate the
// tool's credentials (the seeds' repair step).
const (
	MarkerConfigMap   = "maintain-kubeusers"
	MarkerStatus      = "status"
	MarkerFingerprint = "certificate-sha256"
	MarkerExpiry      = "certificate-expiry"
	MarkerIssued      = "certificate-issued"
	// MarkerReason and MarkerMessage say why an account is not
	// provisioned (status refused): e.g. HomeRefused and what is wrong.
	MarkerReason  = "reason"
	MarkerMessage = "message"
)
