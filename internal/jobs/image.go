package jobs

import (
	"regexp"
	"strings"
)

// builtRepoRE is the repository of a tool's built image: tool-<tool>/<name>.
var builtRepoRE = regexp.MustCompile(`^tool-[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// BuiltImage is an image reference that names a tool's own image, made by
// the build service.
type BuiltImage struct {
	// Host is the registry host the reference names ("" for none: the
	// platform's registry).
	Host string
	// Repository is tool-<tool>/<name>; Tool is <tool>.
	Repository, Tool string
	// Tag or Digest (sha256:…) select the image; neither means latest.
	Tag, Digest string
}

// ParseBuiltImage decides an image's kind, the one rule both the jobs
// framework and webservice follow: a reference whose repository is
// tool-<tool>/<name> (optionally after a registry host, with a :tag or an
// @sha256: digest) is a built image; anything else is a catalogue image.
func ParseBuiltImage(image string) (BuiltImage, bool) {
	var b BuiltImage
	rest := strings.TrimSpace(image)
	if i := strings.Index(rest, "@"); i >= 0 {
		b.Digest = rest[i+1:]
		rest = rest[:i]
		if !strings.HasPrefix(b.Digest, "sha256:") || len(b.Digest) != len("sha256:")+64 {
			return BuiltImage{}, false
		}
	}
	if first, after, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		b.Host, rest = first, after
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		b.Tag, rest = rest[i+1:], rest[:i]
		if b.Tag == "" {
			return BuiltImage{}, false
		}
	}
	if !builtRepoRE.MatchString(rest) {
		return BuiltImage{}, false
	}
	b.Repository = rest
	b.Tool = strings.TrimPrefix(rest[:strings.Index(rest, "/")], "tool-")
	return b, true
}

// Reference is the image as pods pull it, from registry host.
func (b BuiltImage) Reference(host string) string {
	ref := host + "/" + b.Repository
	switch {
	case b.Digest != "":
		return ref + "@" + b.Digest
	case b.Tag != "":
		return ref + ":" + b.Tag
	}
	return ref + ":latest"
}

// IsBuiltImage says whether image is a tool's built image.
func IsBuiltImage(image string) bool {
	_, ok := ParseBuiltImage(image)
	return ok
}

// LauncherCommand is a built image's container command: the image's
// launcher runs the command (or Procfile process type) in the app's
// directory and environment.
func LauncherCommand(command string) string { return "launcher " + command }
