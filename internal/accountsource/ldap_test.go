package accountsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/toolforge-go/toolforge/internal/testldap"
	"sigs.k8s.io/yaml"
)

// ldapSource loads the source the way the daemon does: from the config
// file testldap writes (as the size-limited reader), with changes applied
// to the file first.
func ldapSource(t *testing.T, s *testldap.Server, changes map[string]any) *LDAP {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ldap.yaml")
	s.WriteConfig(t, path, "tools")
	if len(changes) > 0 {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		for k, v := range changes {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		if data, err = yaml.Marshal(cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := LoadLDAPConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func posixAccount(cn, uidNumber, home string) map[string][]string {
	return map[string][]string{
		"objectClass": {"account", "posixAccount"}, "uid": {cn}, "cn": {cn},
		"uidNumber": {uidNumber}, "gidNumber": {"1"}, "homeDirectory": {home},
	}
}

func TestLDAPSource(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, s *testldap.Server)
		want  func(s *testldap.Server) Snapshot
	}{
		{
			name:  "an empty directory is an empty snapshot",
			setup: func(*testing.T, *testldap.Server) {},
			want:  func(*testldap.Server) Snapshot { return Snapshot{} },
		},
		{
			name: "tools load with their uid, home and maintainers, sorted by name",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "zeta", 50002, "/data/project/zeta")
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "bob", "alice")
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Tools: []Tool{
					{Name: "demo", UID: 50001, Home: "/data/project/demo", Maintainers: []string{"alice", "bob"}},
					{Name: "zeta", UID: 50002, Home: "/data/project/zeta"},
				}}
			},
		},
		{
			name: "entries and admins of other projects are ignored",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
				s.AddTool(t, "toolsbeta", "demo", 60001, "/data/project/beta-demo", "carol")
				s.AddTool(t, "toolsbeta", "other", 60002, "/data/project/other")
				s.AddUser(t, "carol", 40003, "/home/carol")
				s.AddAdmin(t, "toolsbeta", "carol")
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Tools: []Tool{{Name: "demo", UID: 50001, Home: "/data/project/demo"}}}
			},
		},
		{
			name: "pwdAccountLockedTime disables a tool",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
				s.LockTool(t, "tools", "demo")
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Tools: []Tool{{Name: "demo", UID: 50001, Home: "/data/project/demo", Disabled: true}}}
			},
		},
		{
			name: "pwdPolicySubentry disables a tool",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
				s.SetToolPolicy(t, "tools", "demo", s.DisabledPolicyDN)
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Tools: []Tool{{Name: "demo", UID: 50001, Home: "/data/project/demo", Disabled: true}}}
			},
		},
		{
			name: "memberUid values count as maintainers alongside member DNs, each name once",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "alice")
				mod := ldap.NewModifyRequest(s.GroupDN("tools", "demo"), nil)
				mod.Add("memberUid", []string{"carol", "alice"})
				s.Modify(t, mod)
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Tools: []Tool{{Name: "demo", UID: 50001, Home: "/data/project/demo", Maintainers: []string{"alice", "carol"}}}}
			},
		},
		{
			name: "a member DN without a uid is reported and the group's other members stand",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "alice")
				mod := ldap.NewModifyRequest(s.GroupDN("tools", "demo"), nil)
				mod.Add("member", []string{"cn=robot," + s.Suffix})
				s.Modify(t, mod)
			},
			want: func(s *testldap.Server) Snapshot {
				return Snapshot{
					Tools:   []Tool{{Name: "demo", UID: 50001, Home: "/data/project/demo", Maintainers: []string{"alice"}}},
					Invalid: []Invalid{{ID: s.GroupDN("tools", "demo"), Reason: `member "cn=robot,dc=example,dc=org" has no uid RDN; ignored`}},
				}
			},
		},
		{
			name: "malformed tool entries are reported with their DN and the others still load",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "good", 50001, "/data/project/good")
				// The INTEGER and IA5String syntaxes let these through;
				// posixAccount's MUST list stops anything more broken.
				s.Add(t, "uid=huge,"+s.ToolsBase, posixAccount("tools.huge", "99999999999999999999", "/data/project/huge"))
				s.Add(t, "uid=root,"+s.ToolsBase, posixAccount("tools.root", "0", "/data/project/root"))
				s.Add(t, "uid=relative,"+s.ToolsBase, posixAccount("tools.relative", "50003", "data/project/relative"))
				s.Add(t, "uid=nameless,"+s.ToolsBase, posixAccount("tools.", "50004", "/data/project/nameless"))
			},
			want: func(s *testldap.Server) Snapshot {
				return Snapshot{
					Tools: []Tool{{Name: "good", UID: 50001, Home: "/data/project/good"}},
					Invalid: []Invalid{
						{ID: "uid=huge," + s.ToolsBase, Reason: `uidNumber "99999999999999999999" is not a number in range`},
						{ID: "uid=nameless," + s.ToolsBase, Reason: `cn "tools." has no tool name after the project prefix`},
						{ID: "uid=relative," + s.ToolsBase, Reason: `homeDirectory "data/project/relative" is not an absolute path`},
						{ID: "uid=root," + s.ToolsBase, Reason: "uidNumber 0 is not positive"},
					},
				}
			},
		},
		{
			name: "two entries claiming one tool are both reported and neither loads",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
				s.Add(t, "uid=impostor,"+s.ToolsBase, posixAccount("tools.demo", "50666", "/data/project/demo"))
			},
			want: func(s *testldap.Server) Snapshot {
				dns := s.ToolDN("tools", "demo") + "; uid=impostor," + s.ToolsBase
				return Snapshot{Invalid: []Invalid{
					{ID: "uid=impostor," + s.ToolsBase, Reason: `2 entries define tool "demo": ` + dns},
					{ID: s.ToolDN("tools", "demo"), Reason: `2 entries define tool "demo": ` + dns},
				}}
			},
		},
		{
			name: "admins are the members of <project>.admin with the uid and home of their person entry",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddUser(t, "alice", 40001, "/home/alice")
				s.AddUser(t, "bob", 40002, "/home/bob")
				s.AddUser(t, "mallory", 40003, "/home/mallory")
				s.AddAdmin(t, "tools", "bob")
				s.AddAdmin(t, "tools", "alice")
			},
			want: func(*testldap.Server) Snapshot {
				return Snapshot{Admins: []Admin{{Name: "alice", UID: 40001, Home: "/home/alice"}, {Name: "bob", UID: 40002, Home: "/home/bob"}}}
			},
		},
		{
			name: "an admin without a person entry or without a uidNumber is reported and the other admins load",
			setup: func(t *testing.T, s *testldap.Server) {
				s.AddUser(t, "alice", 40001, "/home/alice")
				s.Add(t, s.UserDN("dave"), map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"dave"}, "cn": {"dave"}, "sn": {"dave"}})
				s.AddAdmin(t, "tools", "alice")
				s.AddAdmin(t, "tools", "dave")
				s.AddAdmin(t, "tools", "ghost")
			},
			want: func(s *testldap.Server) Snapshot {
				return Snapshot{
					Admins: []Admin{{Name: "alice", UID: 40001, Home: "/home/alice"}},
					Invalid: []Invalid{
						{ID: "ghost", Reason: "member of tools.admin but no entry uid=ghost under " + s.PeopleBase},
						{ID: s.UserDN("dave"), Reason: "uidNumber is missing"},
					},
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testldap.Start(t)
			tc.setup(t, s)
			got, err := ldapSource(t, s, nil).Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(s); !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLDAPDisablingIsUndoneByRemovingTheAttribute(t *testing.T) {
	s := testldap.Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
	l := ldapSource(t, s, nil)
	steps := []struct {
		name         string
		change       func()
		wantDisabled bool
	}{
		{"locking disables", func() { s.LockTool(t, "tools", "demo") }, true},
		{"unlocking re-enables", func() { s.UnlockTool(t, "tools", "demo") }, false},
		{"a password policy disables", func() { s.SetToolPolicy(t, "tools", "demo", s.DisabledPolicyDN) }, true},
		{"removing the policy re-enables", func() { s.SetToolPolicy(t, "tools", "demo", "") }, false},
	}
	for _, st := range steps {
		st.change()
		snap, err := l.Load(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(snap.Tools) != 1 || snap.Tools[0].Disabled != st.wantDisabled {
			t.Fatalf("%s: tools = %+v, want demo with Disabled=%v", st.name, snap.Tools, st.wantDisabled)
		}
	}
}

func TestLDAPProjectCanBeOverriddenAfterLoadingTheConfig(t *testing.T) {
	s := testldap.Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
	s.AddTool(t, "toolsbeta", "beta", 60001, "/data/project/beta")
	l := ldapSource(t, s, nil)
	l.Project = "toolsbeta"
	snap, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []Tool{{Name: "beta", UID: 60001, Home: "/data/project/beta"}}; !reflect.DeepEqual(snap.Tools, want) {
		t.Fatalf("tools = %+v, want %+v", snap.Tools, want)
	}
}

func TestLDAPPagesThroughThousandsOfTools(t *testing.T) {
	const n = 2000
	s := testldap.Start(t)
	for i := range n {
		s.AddTool(t, "tools", fmt.Sprintf("t%04d", i), int64(50000+i), fmt.Sprintf("/data/project/t%04d", i), "alice")
	}
	s.AddUser(t, "alice", 40001, "/home/alice")
	s.AddAdmin(t, "tools", "alice")
	// The reader may only see 500 entries per unpaged search, so without
	// paging this load fails; 100 per page makes it take many pages.
	snap, err := ldapSource(t, s, map[string]any{"pageSize": 100}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Tools) != n || len(snap.Invalid) != 0 || len(snap.Admins) != 1 {
		t.Fatalf("%d tools, %d admins, invalid %v; want %d tools, 1 admin", len(snap.Tools), len(snap.Admins), snap.Invalid, n)
	}
	for i, tool := range snap.Tools {
		want := Tool{Name: fmt.Sprintf("t%04d", i), UID: int64(50000 + i), Home: fmt.Sprintf("/data/project/t%04d", i), Maintainers: []string{"alice"}}
		if !reflect.DeepEqual(tool, want) {
			t.Fatalf("tool %d = %+v, want %+v", i, tool, want)
		}
	}
}

func TestLDAPOverTLS(t *testing.T) {
	s := testldap.Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
	cases := []struct {
		name    string
		changes map[string]any
		wantErr string
	}{
		{"ldaps with the server's CA loads", map[string]any{"url": s.LDAPSURL, "caFile": s.CAFile}, ""},
		{"StartTLS with the server's CA loads", map[string]any{"startTLS": true, "caFile": s.CAFile}, ""},
		{"ldaps with an untrusted certificate is an error", map[string]any{"url": s.LDAPSURL}, "certificate signed by unknown authority"},
		{"StartTLS with an untrusted certificate is an error", map[string]any{"startTLS": true}, "certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := ldapSource(t, s, tc.changes).Load(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q (snapshot %+v)", err, tc.wantErr, snap)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Tools) != 1 {
				t.Fatalf("tools = %+v, want demo", snap.Tools)
			}
		})
	}
}

func TestLDAPFailuresAreErrorsNotEmptySnapshots(t *testing.T) {
	s := testldap.Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
	stopped := testldap.Start(t)
	stoppedURL := stopped.URL
	if err := stopped.Stop(); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name    string
		source  func(t *testing.T) *LDAP
		ctx     context.Context
		wantErr string
	}{
		{
			name: "a wrong password",
			source: func(t *testing.T) *LDAP {
				return ldapSource(t, s, map[string]any{"bindPasswordFile": nil, "bindPassword": "wrong"})
			},
			wantErr: "Invalid Credentials",
		},
		{
			name: "a password file removed after startup",
			source: func(t *testing.T) *LDAP {
				l := ldapSource(t, s, nil)
				if err := os.Remove(l.BindPasswordFile); err != nil {
					t.Fatal(err)
				}
				return l
			},
			wantErr: "read bind password",
		},
		{
			name:    "a server that does not answer",
			source:  func(t *testing.T) *LDAP { return ldapSource(t, s, map[string]any{"url": stoppedURL}) },
			wantErr: "connect to " + stoppedURL,
		},
		{
			name: "a tools base that does not exist",
			source: func(t *testing.T) *LDAP {
				return ldapSource(t, s, map[string]any{"toolsBase": "ou=nothing," + s.Suffix})
			},
			wantErr: "No Such Object",
		},
		{
			name:    "a canceled context",
			source:  func(t *testing.T) *LDAP { return ldapSource(t, s, nil) },
			ctx:     canceled,
			wantErr: "context canceled",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is an error", func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			snap, err := tc.source(t).Load(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(snap, Snapshot{}) {
				t.Fatalf("a failed load returned %+v alongside the error", snap)
			}
		})
	}
}

func TestLDAPStringNamesTheURL(t *testing.T) {
	l := &LDAP{URL: "ldap://127.0.0.1:3389"}
	if got := l.String(); got != "ldap ldap://127.0.0.1:3389" {
		t.Fatalf("String() = %q", got)
	}
}
