package jobs

import (
	"regexp"
	"strings"
)

// ImageKind says where an image comes from, which decides a job's
// defaults (file logs, mounts) as in the original.
type ImageKind int

const (
	// CatalogueImage is a prebuilt image of the platform's catalogue:
	// file logs on and the tool's storage mounted by default, and it must
	// be mounted (the image expects the tool's home).
	CatalogueImage ImageKind = iota
	// BuiltImage is a tool's own image from the build service: output to
	// the log store and nothing mounted by default.
	BuiltImage
)

func (k ImageKind) String() string {
	if k == BuiltImage {
		return "built"
	}
	return "catalogue"
}

// BuiltRef is a built image reference taken apart.
type BuiltRef struct {
	// Host is the registry host the reference names, "" when none.
	Host string
	// Tool owns the repository tool-<Tool>/<Name>.
	Tool, Name string
	// Tag and Digest are what the reference names after the repository
	// (either, both or neither).
	Tag, Digest string
}

// Repository is the built image's repository without host, tag or digest.
func (r BuiltRef) Repository() string { return "tool-" + r.Tool + "/" + r.Name }

var (
	builtToolRE = regexp.MustCompile(`^tool-([a-z0-9]([-a-z0-9]*[a-z0-9])?)$`)
	// An OCI repository path component.
	builtNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// ParseBuiltImage takes a built image reference apart: a repository
// tool-<tool>/<name>, optionally after a registry host and followed by a
// :tag and/or an @sha256: digest. ok is false for anything else (a
// catalogue name such as python3.11, a catalogue image's full reference,
// another repository layout). Whether the host is the platform's registry
// is the caller's to check: this package does not know it.
func ParseBuiltImage(ref string) (BuiltRef, bool) {
	var r BuiltRef
	rest := ref
	if before, digest, found := strings.Cut(rest, "@"); found {
		if !digestRE.MatchString(digest) {
			return BuiltRef{}, false
		}
		rest, r.Digest = before, digest
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 2:
	case 3:
		// A registry host: a dot, a port or localhost tell it from a path
		// component, as container runtimes tell it.
		if !strings.ContainsAny(parts[0], ".:") && parts[0] != "localhost" {
			return BuiltRef{}, false
		}
		r.Host = parts[0]
		parts = parts[1:]
	default:
		return BuiltRef{}, false
	}
	name := parts[1]
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name, r.Tag = name[:i], name[i+1:]
		if !tagRE.MatchString(r.Tag) {
			return BuiltRef{}, false
		}
	}
	m := builtToolRE.FindStringSubmatch(parts[0])
	if m == nil || !builtNameRE.MatchString(name) {
		return BuiltRef{}, false
	}
	r.Tool, r.Name = m[1], name
	return r, true
}

// KindOfImage is the one decision of an image's kind, for the jobs API,
// the CLI and the build service alike: a built image's repository is
// tool-<tool>/<name>; everything else is from the catalogue.
func KindOfImage(ref string) ImageKind {
	if _, ok := ParseBuiltImage(strings.TrimSpace(ref)); ok {
		return BuiltImage
	}
	return CatalogueImage
}

// Defaults are a job's settings when its definition does not say.
type Defaults struct {
	Filelog bool
	Mount   string
}

// DefaultsFor is the defaults table by image kind, the original's:
// catalogue images write file logs and mount all of the tool's storage;
// built images log to the log store and mount nothing.
func DefaultsFor(k ImageKind) Defaults {
	if k == BuiltImage {
		return Defaults{Filelog: false, Mount: MountNone}
	}
	return Defaults{Filelog: true, Mount: MountAll}
}

// ErrMountNoneCatalogue is the original's refusal of --mount=none for a
// catalogue image, word for word (scripts and its tests match it).
const ErrMountNoneCatalogue = "Mount type none is only supported for build service images"

// IsBuiltImage says whether image is a tool's built image.
func IsBuiltImage(image string) bool { return KindOfImage(image) == BuiltImage }

// Reference is the image as pods pull it from the registry host: its tag,
// or its digest, or latest.
func (r BuiltRef) Reference(host string) string {
	ref := host + "/" + r.Repository()
	switch {
	case r.Digest != "":
		return ref + "@" + r.Digest
	case r.Tag != "":
		return ref + ":" + r.Tag
	}
	return ref + ":latest"
}

// LauncherCommand is a built image's container command: the image's
// launcher runs the command (or Procfile process type) in the app's
// directory and environment.
func LauncherCommand(command string) string { return "launcher " + command }
