package admission

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// SettingsKey is the key of the settings in the ConfigMap
// toolforge-admission of the platform namespace.
const SettingsKey = "config.yaml"

// toolPlaceholder in a mount path stands for the tool's name.
const toolPlaceholder = "{tool}"

// Settings are what an admin configures. Every field is optional: with
// none, tools may use the image catalogue's registries, the domain
// toolforge.org, and get every platform claim mounted where its annotation
// says.
type Settings struct {
	// Registries are the registry hosts images may come from, matched
	// exactly (default: the image catalogue's registries).
	Registries []string `json:"registries,omitempty"`
	// Domains are the domains under which a tool may have an Ingress for
	// <tool>.<domain> (default: toolforge.org).
	Domains []string `json:"domains,omitempty"`
	// Mounts, when given, are the only platform claims mounted into tool
	// pods, at these paths (default: every PVC labelled
	// toolforge.org/platform-claim, at its toolforge.org/mount-path).
	Mounts []Mount `json:"mounts,omitempty"`
	// IngressClasses are the ingress classes a tool's Ingress may name
	// (spec.ingressClassName or the kubernetes.io/ingress.class
	// annotation); an Ingress naming none gets the cluster's default class.
	// Default: traefik, the controller devcluster runs.
	IngressClasses []string `json:"ingressClasses,omitempty"`
	// PlatformUsers are further user names (beyond group system:masters
	// and the platform namespace's ServiceAccounts) that may set the
	// platform's claim metadata: the identity of `toolforged accounts`
	// when it runs as anything else.
	PlatformUsers []string `json:"platformUsers,omitempty"`
	// Exceptions widen the rules for single tools.
	Exceptions map[string]Exception `json:"exceptions,omitempty"`
}

// Mount is one shared mount of tool pods.
type Mount struct {
	// Claim is the PVC in the tool's namespace (tool-home, tool-dumps).
	Claim string `json:"claim"`
	// MountPath is where it appears in every container; {tool} stands for
	// the tool's name. Default: the claim's toolforge.org/mount-path.
	MountPath string `json:"mountPath,omitempty"`
	// ReadOnly mounts it read-only. Default: the claim's
	// toolforge.org/read-only.
	ReadOnly *bool `json:"readOnly,omitempty"`
}

// Exception is what one tool may do beyond the rules.
type Exception struct {
	// Registries are further registry hosts the tool's images may come from.
	Registries []string `json:"registries,omitempty"`
	// IngressHosts are further hosts the tool's Ingresses may serve.
	IngressHosts []string `json:"ingressHosts,omitempty"`
}

// ParseSettings reads settings from YAML; unknown fields are errors, so a
// typo does not silently leave a rule at its default.
func ParseSettings(data []byte) (*Settings, error) {
	var s Settings
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("parse admission settings: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("admission settings: %w", err)
	}
	return &s, nil
}

func (s *Settings) validate() error {
	for _, r := range s.Registries {
		if err := validateRegistry(r); err != nil {
			return fmt.Errorf("registries: %w", err)
		}
	}
	for _, d := range s.Domains {
		if errs := validation.IsDNS1123Subdomain(d); len(errs) > 0 {
			return fmt.Errorf("domains: %q is not a domain name: %s", d, strings.Join(errs, "; "))
		}
	}
	for i, m := range s.Mounts {
		if errs := validation.IsDNS1123Subdomain(m.Claim); len(errs) > 0 {
			return fmt.Errorf("mounts[%d].claim: %q is not a PVC name: %s", i, m.Claim, strings.Join(errs, "; "))
		}
		if m.MountPath != "" && (!path.IsAbs(m.MountPath) || path.Clean(m.MountPath) != m.MountPath) {
			return fmt.Errorf("mounts[%d].mountPath: %q must be a clean absolute path", i, m.MountPath)
		}
	}
	for _, c := range s.IngressClasses {
		if errs := validation.IsDNS1123Subdomain(c); len(errs) > 0 {
			return fmt.Errorf("ingressClasses: %q is not an ingress class name: %s", c, strings.Join(errs, "; "))
		}
	}
	for _, u := range s.PlatformUsers {
		if u == "" || strings.Contains(u, ",") {
			return fmt.Errorf("platformUsers: %q is not a user name", u)
		}
	}
	for tool, e := range s.Exceptions {
		if err := tenancy.ValidateName(tool); err != nil {
			return fmt.Errorf("exceptions: %w", err)
		}
		for _, r := range e.Registries {
			if err := validateRegistry(r); err != nil {
				return fmt.Errorf("exceptions.%s.registries: %w", tool, err)
			}
		}
		for _, h := range e.IngressHosts {
			if errs := validation.IsDNS1123Subdomain(h); len(errs) > 0 {
				return fmt.Errorf("exceptions.%s.ingressHosts: %q is not a host name: %s", tool, h, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

// validateRegistry accepts what images.RegistryHost can return: a host
// name with an optional port, never a path or a scheme.
func validateRegistry(r string) error {
	host := r
	if h, port, found := strings.Cut(r, ":"); found {
		if n, err := strconv.Atoi(port); err != nil || len(validation.IsValidPortNum(n)) > 0 {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", r)
		}
		host = h
	}
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return fmt.Errorf("%q is not a registry host (like docker-registry.tools.wmflabs.org or registry.example.org:5000): %s", r, strings.Join(errs, "; "))
	}
	return nil
}

// merge lays over on top of s: each top-level field over sets replaces s's,
// and exceptions are replaced tool by tool.
func (s *Settings) merge(over *Settings) *Settings {
	out := *s
	if over == nil {
		return &out
	}
	if len(over.Registries) > 0 {
		out.Registries = over.Registries
	}
	if len(over.Domains) > 0 {
		out.Domains = over.Domains
	}
	if len(over.Mounts) > 0 {
		out.Mounts = over.Mounts
	}
	if len(over.IngressClasses) > 0 {
		out.IngressClasses = over.IngressClasses
	}
	if len(over.PlatformUsers) > 0 {
		out.PlatformUsers = over.PlatformUsers
	}
	if len(over.Exceptions) > 0 {
		out.Exceptions = map[string]Exception{}
		for k, v := range s.Exceptions {
			out.Exceptions[k] = v
		}
		for k, v := range over.Exceptions {
			out.Exceptions[k] = v
		}
	}
	return &out
}

// Effective are the settings the rules apply: defaults filled in.
type Effective struct {
	Registries []string
	// BuiltRegistry is the registry of tools' built images: its
	// tool-<tool>/<name> repositories, and nothing else of it, are allowed
	// (toolforged --builds-registry; "" allows none).
	BuiltRegistry  string
	Domains        []string
	Mounts         []Mount
	IngressClasses []string
	PlatformUsers  []string
	Exceptions     map[string]Exception
}

// DefaultIngressClass is the class of the ingress controller devcluster
// runs (Traefik).
const DefaultIngressClass = "traefik"

// effective fills in defaults: catalogue are the image catalogue's
// registries.
func (s *Settings) effective(catalogue []string) *Effective {
	e := &Effective{
		Registries:     s.Registries,
		Domains:        s.Domains,
		Mounts:         s.Mounts,
		IngressClasses: s.IngressClasses,
		PlatformUsers:  s.PlatformUsers,
		Exceptions:     s.Exceptions,
	}
	if len(e.IngressClasses) == 0 {
		e.IngressClasses = []string{DefaultIngressClass}
	}
	if len(e.Registries) == 0 {
		e.Registries = catalogue
	}
	if len(e.Domains) == 0 {
		e.Domains = []string{tenancy.DefaultDomain}
	}
	return e
}

// RegistriesFor are the registry hosts tool may pull from, sorted.
func (e *Effective) RegistriesFor(tool string) []string {
	out := slices.Clone(e.Registries)
	out = append(out, e.Exceptions[tool].Registries...)
	sort.Strings(out)
	return slices.Compact(out)
}
