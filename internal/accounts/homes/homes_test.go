package homes

import (
	"sort"
	"strings"
	"testing"
)

func tool(name, home string) Account {
	return Account{Kind: "tool", Name: name, Home: home, Root: "/data/project"}
}

func admin(name, home string) Account {
	return Account{Kind: "admin", Name: name, Home: home, Root: "/home"}
}

func TestAHomeOutsideItsRootOrSharedIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		accounts []Account
		// want maps the accounts whose home is refused to what the refusal
		// says; every other account keeps its home.
		want  map[Key]string
		homes map[Key]string
	}{
		{"the default home and a home of the source below the root are kept",
			[]Account{tool("a", ""), tool("b", "/data/project/b"), tool("c", "/data/project/groups/c/"), admin("alice", "")}, nil,
			map[Key]string{{"tool", "a"}: "/data/project/a", {"tool", "c"}: "/data/project/groups/c", {"admin", "alice"}: "/home/alice"}},
		{"a home outside the root is refused",
			[]Account{tool("a", "/etc"), tool("b", "")},
			map[Key]string{{"tool", "a"}: "home /etc is outside the tool home root /data/project; give the tool a home below it"}, nil},
		{"a home that climbs out of the root is refused",
			[]Account{tool("a", "/data/project/../../root")},
			map[Key]string{{"tool", "a"}: "home /root is outside the tool home root /data/project"}, nil},
		{"a home beside the root with the root as its prefix is refused",
			[]Account{tool("a", "/data/projectx/a")},
			map[Key]string{{"tool", "a"}: "home /data/projectx/a is outside the tool home root /data/project"}, nil},
		{"the root itself is refused",
			[]Account{tool("a", "/data/project")},
			map[Key]string{{"tool", "a"}: "home /data/project is the tool home root itself"}, nil},
		{"a relative home is refused",
			[]Account{tool("a", "data/project/a")},
			map[Key]string{{"tool", "a"}: `home "data/project/a" is not an absolute path`}, nil},
		{"an admin's home is held to the admins' root",
			[]Account{admin("alice", "/data/project/alice")},
			map[Key]string{{"admin", "alice"}: "home /data/project/alice is outside the admin home root /home"}, nil},
		{"another tool's home is refused, and the other tool keeps it",
			[]Account{tool("victim", ""), tool("thief", "/data/project/victim")},
			map[Key]string{{"tool", "thief"}: "home /data/project/victim is the home of tool victim (/data/project/victim): homes are never shared"},
			map[Key]string{{"tool", "victim"}: "/data/project/victim"}},
		{"a home inside another tool's is refused",
			[]Account{tool("victim", ""), tool("thief", "/data/project/victim/sub")},
			map[Key]string{{"tool", "thief"}: "home /data/project/victim/sub is inside the home of tool victim (/data/project/victim)"}, nil},
		{"a home holding another tool's is refused",
			[]Account{tool("victim", "/data/project/groups/victim"), tool("thief", "/data/project/groups")},
			map[Key]string{
				{"tool", "thief"}:  "home /data/project/groups holds the home of tool victim (/data/project/groups/victim)",
				{"tool", "victim"}: "home /data/project/groups/victim is inside the home of tool thief (/data/project/groups)",
			}, nil},
		{"two source homes that are the same are both refused",
			[]Account{tool("a", "/data/project/shared"), tool("b", "/data/project/shared")},
			map[Key]string{{"tool", "a"}: "is the home of tool b", {"tool", "b"}: "is the home of tool a"}, nil},
		{"a tool and an admin with one root and one name keep the home they always shared",
			[]Account{tool("alice", ""), {Kind: "admin", Name: "alice", Root: "/data/project"}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Resolve(tc.accounts)
			for _, k := range Sorted(got) {
				r := got[k]
				want, refused := tc.want[k]
				switch {
				case refused && (r.Refused == nil || !strings.Contains(r.Refused.Error(), want)):
					t.Errorf("%v: refusal %v, want one saying %q", k, r.Refused, want)
				case !refused && r.Refused != nil:
					t.Errorf("%v: refused (%v), want its home kept", k, r.Refused)
				}
				if h, ok := tc.homes[k]; ok && r.Home != h {
					t.Errorf("%v: home %s, want %s", k, r.Home, h)
				}
			}
		})
	}
}

// Sorted are the keys of m in order, for stable test output.
func Sorted(m map[Key]Resolved) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Kind != keys[j].Kind {
			return keys[i].Kind < keys[j].Kind
		}
		return keys[i].Name < keys[j].Name
	})
	return keys
}
