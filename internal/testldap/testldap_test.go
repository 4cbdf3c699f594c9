package testldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"sigs.k8s.io/yaml"
)

func search(t *testing.T, s *Server, base, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	var res *ldap.SearchResult
	err := s.Do(func(c *ldap.Conn) (err error) {
		res, err = c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
		return err
	})
	if err != nil {
		t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

func TestHelpersWriteTheDirectoryLayoutOfToolforge(t *testing.T) {
	s := Start(t)
	s.AddUser(t, "alice", 40001, "/home/alice")
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "alice", "bob")
	s.AddAdmin(t, "tools", "alice")
	s.AddAdmin(t, "tools", "bob")

	cases := []struct {
		name   string
		base   string
		filter string
		attr   string
		want   []string
	}{
		{"the tool is a posixAccount under ToolsBase with its uid", s.ToolsBase, "(&(objectClass=posixAccount)(cn=tools.demo))", "uidNumber", []string{"50001"}},
		{"the tool's home is its homeDirectory", s.ToolsBase, "(cn=tools.demo)", "homeDirectory", []string{"/data/project/demo"}},
		{"the maintainers are members of the tool's posixGroup", s.GroupsBase, "(&(objectClass=posixGroup)(cn=tools.demo))", "member",
			[]string{s.UserDN("alice"), s.UserDN("bob")}},
		{"admins accumulate in <project>.admin", s.GroupsBase, "(cn=tools.admin)", "member", []string{s.UserDN("alice"), s.UserDN("bob")}},
		{"a user is a person with a uid", s.PeopleBase, "(&(objectClass=inetOrgPerson)(uid=alice))", "uidNumber", []string{"40001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			entries := search(t, s, tc.base, tc.filter, tc.attr)
			if len(entries) != 1 {
				t.Fatalf("%d entries match %s under %s, want 1", len(entries), tc.filter, tc.base)
			}
			if got := entries[0].GetAttributeValues(tc.attr); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s = %q, want %q", tc.attr, got, tc.want)
			}
		})
	}
}

func TestLockAndPolicyAreOperationalAttributesThatComeAndGo(t *testing.T) {
	s := Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo")
	attrs := func() (locked, policy string) {
		e := search(t, s, s.ToolDN("tools", "demo"), "(objectClass=*)", "pwdAccountLockedTime", "pwdPolicySubentry")[0]
		return e.GetAttributeValue("pwdAccountLockedTime"), e.GetAttributeValue("pwdPolicySubentry")
	}
	steps := []struct {
		name                   string
		change                 func()
		wantLocked, wantPolicy string
	}{
		{"a new tool has neither", func() {}, "", ""},
		{"LockTool sets pwdAccountLockedTime", func() { s.LockTool(t, "tools", "demo") }, LockedForever, ""},
		{"UnlockTool removes it", func() { s.UnlockTool(t, "tools", "demo") }, "", ""},
		{"SetToolPolicy sets pwdPolicySubentry", func() { s.SetToolPolicy(t, "tools", "demo", s.DisabledPolicyDN) }, "", s.DisabledPolicyDN},
		{"SetToolPolicy with no DN removes it", func() { s.SetToolPolicy(t, "tools", "demo", "") }, "", ""},
	}
	for _, st := range steps {
		st.change()
		if locked, policy := attrs(); locked != st.wantLocked || policy != st.wantPolicy {
			t.Fatalf("%s: pwdAccountLockedTime=%q pwdPolicySubentry=%q, want %q %q", st.name, locked, policy, st.wantLocked, st.wantPolicy)
		}
	}
}

func TestDeleteToolRemovesTheAccountAndTheGroup(t *testing.T) {
	s := Start(t)
	s.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "alice")
	s.DeleteTool(t, "tools", "demo")
	if e := search(t, s, s.Suffix, "(cn=tools.demo)"); len(e) != 0 {
		t.Fatalf("%d entries left after DeleteTool", len(e))
	}
}

func TestTheReaderMustPageBeyondTheSizeLimit(t *testing.T) {
	s := Start(t)
	if err := s.Do(func(c *ldap.Conn) error {
		for i := range pageLimit + 1 {
			req := ldap.NewAddRequest("cn=e"+strconv.Itoa(i)+","+s.Suffix, nil)
			req.Attribute("objectClass", []string{"device"})
			if err := c.Add(req); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(s.ReaderDN, s.ReaderPassword); err != nil {
		t.Fatal(err)
	}
	req := func() *ldap.SearchRequest {
		return ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=device)", []string{"cn"}, nil)
	}
	if _, err := c.Search(req()); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search of %d entries: err = %v, want sizeLimitExceeded", pageLimit+2, err)
	}
	res, err := c.SearchWithPaging(req(), 200)
	if err != nil {
		t.Fatalf("paged search: %v", err)
	}
	if len(res.Entries) != pageLimit+2 { // + the disabled policy
		t.Fatalf("paged search found %d entries, want %d", len(res.Entries), pageLimit+2)
	}
}

func TestTLSIsVerifiedWithTheServersCA(t *testing.T) {
	s := Start(t)
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", s.CAFile)
	}
	cases := []struct {
		name    string
		connect func(*tls.Config) (*ldap.Conn, error)
	}{
		{"ldaps", func(cfg *tls.Config) (*ldap.Conn, error) {
			return ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(cfg))
		}},
		{"StartTLS", func(cfg *tls.Config) (*ldap.Conn, error) {
			c, err := ldap.DialURL(s.URL)
			if err != nil {
				return nil, err
			}
			if err := c.StartTLS(cfg); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" with the CA binds", func(t *testing.T) {
			c, err := tc.connect(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Bind(s.ReaderDN, s.ReaderPassword); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(tc.name+" without the CA is refused", func(t *testing.T) {
			c, err := tc.connect(&tls.Config{ServerName: "127.0.0.1"})
			if err == nil {
				c.Close()
				t.Fatal("connected although the CA is not trusted")
			}
		})
	}
}

func TestStopLeavesNoProcessBehind(t *testing.T) {
	s, err := StartServer("")
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := s.Pid(), s.Dir
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("slapd pid %d still exists after Stop (kill -0: %v)", pid, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the temporary directory %s is still there: %v", dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}

func TestTwoServersRunSideBySide(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.URL == b.URL {
		t.Fatalf("both servers on %s", a.URL)
	}
	a.AddUser(t, "alice", 1, "/home/alice")
	if e := search(t, b, b.PeopleBase, "(uid=alice)"); len(e) != 0 {
		t.Fatal("an entry added to one server is visible on the other")
	}
}

func TestAMissingSlapdNamesTheDebianPackages(t *testing.T) {
	t.Setenv(SlapdEnv, filepath.Join(t.TempDir(), "no-slapd"))
	_, err := StartServer("")
	if err == nil || !strings.Contains(err.Error(), "slapd ldap-utils") {
		t.Fatalf("err = %v, want it to name the packages slapd ldap-utils", err)
	}
}

func TestWriteConfigPointsAtThisServerAsTheReader(t *testing.T) {
	s := Start(t)
	path := filepath.Join(t.TempDir(), "ldap.yaml")
	s.WriteConfig(t, path, "tools")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(cfg["bindPasswordFile"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"url": s.URL, "bindDN": s.ReaderDN, "project": "tools", "toolsBase": s.ToolsBase,
		"groupsBase": s.GroupsBase, "usersBase": s.PeopleBase, "timeout": "10s", "bindPasswordFile": path + ".password"}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config = %v\nwant     %v", cfg, want)
	}
	if strings.TrimSpace(string(secret)) != s.ReaderPassword {
		t.Fatalf("password file holds %q, want the reader's password", secret)
	}
}
