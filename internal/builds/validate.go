package builds

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// MaxEnvvars bounds a build's environment variables.
const MaxEnvvars = 64

// envvarRE is what a build's variable may be named (the original's rule).
var envvarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]{2,}$`)

// imageNameRE is one path component of an OCI repository name
// (distribution's reference grammar), which is what an image name becomes.
var imageNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// MaxImageName keeps tool-<tool>/<name> within registries' limits.
const MaxImageName = 128

// DefaultImageName is the image a tool's build makes unless told otherwise.
func DefaultImageName(tool string) string { return "tool-" + tool }

// Repository is the registry repository of a tool's image.
func Repository(tool, name string) string { return "tool-" + tool + "/" + name }

// Normalize trims the parameters and fills in the default image name.
func (p *Parameters) Normalize(tool string) {
	p.SourceURL = strings.TrimSpace(p.SourceURL)
	p.Ref = strings.TrimSpace(p.Ref)
	p.ImageName = strings.TrimSpace(p.ImageName)
	if p.ImageName == "" {
		p.ImageName = DefaultImageName(tool)
	}
}

// Validate checks normalized parameters; the error names the field and
// what it may be.
func (p *Parameters) Validate() error {
	if err := ValidateSourceURL(p.SourceURL); err != nil {
		return err
	}
	if err := ValidateRef(p.Ref); err != nil {
		return err
	}
	if err := ValidateImageName(p.ImageName); err != nil {
		return err
	}
	if len(p.Envvars) > MaxEnvvars {
		return fmt.Errorf("too many environment variables (%d; at most %d)", len(p.Envvars), MaxEnvvars)
	}
	names := make([]string, 0, len(p.Envvars))
	for k := range p.Envvars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := ValidateEnvvarName(k); err != nil {
			return err
		}
	}
	return nil
}

// ValidateSourceURL accepts the URL of a public git repository: http(s),
// with a host, without credentials.
func ValidateSourceURL(s string) error {
	if s == "" {
		return fmt.Errorf("a git repository URL is required, e.g. toolforge build start https://gitlab.wikimedia.org/toolforge-repos/my-tool")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("source URL %q: want the http:// or https:// URL of a public git repository", s)
	}
	if u.User != nil {
		return fmt.Errorf("source URL %q: the repository must be public; a URL may not carry credentials", s)
	}
	return nil
}

// ValidateRef accepts what git accepts as a branch, tag or commit name
// (git check-ref-format's rules), or nothing (the repository's HEAD).
func ValidateRef(ref string) error {
	if ref == "" {
		return nil
	}
	bad := len(ref) > 255 || strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") || strings.Contains(ref, "..") ||
		strings.Contains(ref, "//") || strings.Contains(ref, "@{") || ref == "@"
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("ref %q is not a valid git branch, tag or commit name", ref)
	}
	return nil
}

// ValidateImageName accepts one repository path component.
func ValidateImageName(name string) error {
	if len(name) > MaxImageName || !imageNameRE.MatchString(name) {
		return fmt.Errorf("image name %q is not a valid repository name: lowercase letters, digits and separators (., _, __, -) between them, at most %d characters", name, MaxImageName)
	}
	return nil
}

// ValidateEnvvarName applies the original's rule to a build variable.
func ValidateEnvvarName(name string) error {
	if !envvarRE.MatchString(name) {
		return fmt.Errorf("not valid environment variable name, must match '%s', got '%s'", envvarRE, name)
	}
	return nil
}
