// Package homes decides where accounts' homes are. A home is the account
// source's (LDAP homeDirectory, the file source's home) or <root>/<name>,
// and the controller writes credentials and kubeconfigs there as root, and
// mounts a tool's home into its pods: a home outside the configured root,
// or shared with another account (the same directory, or one inside the
// other), would give one account's files to another. Such a home is
// refused: the account is not provisioned until the source is fixed, and
// the others are unaffected.
package homes

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Account is one account whose home is decided.
type Account struct {
	// Kind is tool or admin, for messages.
	Kind string
	Name string
	// Home is the source's, "" for the default.
	Home string
	// Root holds the homes of accounts of this kind (--home-root,
	// --admin-home-root): absolute and clean.
	Root string
}

// Resolved is where an account's home is, or why it is refused.
type Resolved struct {
	Home string
	// Refused says why the home may not be used; nil when it may.
	Refused error
}

// Default is an account's home when the source names none.
func Default(root, name string) string { return filepath.Join(root, name) }

// Resolve decides every account's home. An account is keyed by kind and
// name. When homes overlap, only accounts whose home is not their default
// are refused: an entry that names another's home cannot take it away.
func Resolve(accounts []Account) map[Key]Resolved {
	out := make(map[Key]Resolved, len(accounts))
	byHome := map[string][]Account{}
	for _, a := range accounts {
		home, err := check(a)
		out[key(a)] = Resolved{Home: home, Refused: err}
		if err == nil {
			byHome[home] = append(byHome[home], a)
		}
	}
	for home, owners := range byHome {
		// Every other account whose home is this one, or above it: walk up
		// to the filesystem root; paths are short.
		var others []Account
		for _, a := range owners {
			for _, b := range owners {
				if key(a) != key(b) {
					others = append(others, b)
				}
			}
		}
		for dir := filepath.Dir(home); ; dir = filepath.Dir(dir) {
			others = append(others, byHome[dir]...)
			if dir == filepath.Dir(dir) {
				break
			}
		}
		for _, a := range owners {
			for _, b := range others {
				if key(a) == key(b) {
					continue
				}
				// a's home is b's, or below it: each is refused unless it
				// is at its default.
				refuse(out, a, b, home, out[key(b)].Home)
				refuse(out, b, a, out[key(b)].Home, home)
			}
		}
	}
	return out
}

// Key names an account.
type Key struct{ Kind, Name string }

func key(a Account) Key { return Key{a.Kind, a.Name} }

// refuse refuses a's home (at home) for overlapping b's (at other), unless
// a's home is its default.
func refuse(out map[Key]Resolved, a, b Account, home, other string) {
	if home == Default(a.Root, a.Name) || out[key(a)].Refused != nil {
		return
	}
	how := "is inside"
	switch {
	case home == other:
		how = "is"
	case strings.HasPrefix(other, home+"/"):
		how = "holds"
	}
	out[key(a)] = Resolved{Home: home, Refused: fmt.Errorf("home %s %s the home of %s %s (%s): homes are never shared; give the %s its own home below %s", home, how, b.Kind, b.Name, other, a.Kind, a.Root)}
}

// check resolves an account's home and refuses one outside its root.
func check(a Account) (string, error) {
	if a.Home == "" {
		return Default(a.Root, a.Name), nil
	}
	if !filepath.IsAbs(a.Home) {
		return a.Home, fmt.Errorf("home %q is not an absolute path; give the %s a home below %s", a.Home, a.Kind, a.Root)
	}
	home := filepath.Clean(a.Home)
	rel, err := filepath.Rel(a.Root, home)
	if rel == "." {
		return home, fmt.Errorf("home %s is the %s home root itself; give the %s a home below it", home, a.Kind, a.Kind)
	}
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return home, fmt.Errorf("home %s is outside the %s home root %s; give the %s a home below it", home, a.Kind, a.Root, a.Kind)
	}
	return home, nil
}
