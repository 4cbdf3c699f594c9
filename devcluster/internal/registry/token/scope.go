// Package token is the registry's token service, as the Docker Registry v2
// token specification describes it (distribution's `token` access
// controller verifies what it issues): a client asks
// GET <realm>?service=<service>&scope=repository:<name>:<actions>, with HTTP
// Basic credentials or none, and gets a short-lived JWT granting what its
// identity may do of what it asked. Who may do what is Grant's table.
package token

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Identity is who asked for a token.
type Identity string

// The identities. Anonymous is everyone without credentials (pods, nodes'
// containerd, anyone on the machine).
const (
	Anonymous Identity = ""
	// Admin may do anything: devcluster's own catalogue builder and
	// `make images` push with it.
	Admin Identity = "admin"
	// Builds may push and delete tools' built images only
	// (tool-<tool>/<name>); the platform's build service holds it and
	// hands each build a token narrowed to its own repository.
	Builds Identity = "builds"
)

// Identities with credentials, in the order their files are written.
var Identities = []Identity{Admin, Builds}

// Lifetime is how long a token issued to who is valid: a build's push must
// fit in the builds identity's hour; everyone else asks again after five
// minutes (containerd asks per pull anyway).
func Lifetime(who Identity) time.Duration {
	if who == Builds {
		return time.Hour
	}
	return 5 * time.Minute
}

// Actions on a repository.
const (
	Pull   = "pull"
	Push   = "push"
	Delete = "delete"
	// All is distribution's wildcard action.
	All = "*"
)

// Scope is one requested or granted access: type:name:actions.
type Scope struct {
	Type    string
	Name    string
	Actions []string
}

func (s Scope) String() string { return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",") }

// ParseScopes reads the scope parameters of a token request: each may hold
// several scopes separated by spaces (some clients send them so), each
// scope type:name:actions, where the name may itself hold a colon (a
// registry host with a port).
func ParseScopes(params []string) ([]Scope, error) {
	var out []Scope
	for _, p := range params {
		for _, s := range strings.Fields(p) {
			first := strings.IndexByte(s, ':')
			last := strings.LastIndexByte(s, ':')
			if first <= 0 || last == first || last == len(s)-1 {
				return nil, fmt.Errorf("scope %q: want type:name:actions", s)
			}
			out = append(out, Scope{Type: s[:first], Name: s[first+1 : last], Actions: strings.Split(s[last+1:], ",")})
		}
	}
	return out, nil
}

// toolRepository is a built image's repository, tool-<tool>/<name>: a
// tool's name as the platform allows it, and one path component of
// distribution's reference grammar.
var toolRepository = regexp.MustCompile(`^tool-[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// IsToolRepository says whether a repository holds a tool's built images.
func IsToolRepository(name string) bool { return toolRepository.MatchString(name) }

// allowed is what who may do to a scope's resource.
func allowed(who Identity, s Scope) []string {
	switch {
	case who == Admin && (s.Type == "repository" || s.Type == "registry" && s.Name == "catalog"):
		return []string{Pull, Push, Delete, All}
	case who == Builds && s.Type == "registry" && s.Name == "catalog":
		// The build service lists the registry's repositories to find a
		// tool's images (quota, clean) whose builds are gone; it hands
		// build pods tokens for their own repository only.
		return []string{All}
	case s.Type != "repository":
		return nil
	case who == Builds && IsToolRepository(s.Name):
		return []string{Pull, Push, Delete, All}
	default:
		// Anyone pulls anything, as from a public project.
		return []string{Pull}
	}
}

// Grant is what a token for who carries of what it asked: each requested
// action who may take, nothing else. Denied actions are left out, not
// refused: the registry then answers the request that needs them with 401
// (insufficient scope), as the specification says.
func Grant(who Identity, requested []Scope) []Scope {
	var out []Scope
	for _, s := range requested {
		may := allowed(who, s)
		var actions []string
		for _, a := range s.Actions {
			if slices.Contains(may, a) && !slices.Contains(actions, a) {
				actions = append(actions, a)
			}
		}
		if len(actions) > 0 {
			out = append(out, Scope{Type: s.Type, Name: s.Name, Actions: actions})
		}
	}
	return out
}
