// Package version reports the build's version, stamped by the Makefile.
package version

import "runtime/debug"

// Version is set with -ldflags "-X .../internal/version.Version=...".
var Version = ""

// String is the version, falling back to the module version Go recorded
// (set for `go install module@version`).
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
