package testldap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"sigs.k8s.io/yaml"
)

// LockedForever is the pwdAccountLockedTime value that means "locked by an
// administrator, no expiry" (what Toolforge sets on disabled tools).
const LockedForever = "000001010000Z"

// ToolDN is where AddTool puts a tool's posixAccount.
func (s *Server) ToolDN(project, name string) string {
	return "uid=" + ldap.EscapeDN(project+"."+name) + "," + s.ToolsBase
}

// GroupDN is the posixGroup of a tool, or of a project's admins with name "admin".
func (s *Server) GroupDN(project, name string) string {
	return "cn=" + ldap.EscapeDN(project+"."+name) + "," + s.GroupsBase
}

// UserDN is where AddUser puts a person.
func (s *Server) UserDN(name string) string {
	return "uid=" + ldap.EscapeDN(name) + "," + s.PeopleBase
}

// AddTool adds a tool as Toolforge's directory has it: a posixAccount
// cn=<project>.<name> under ToolsBase and a posixGroup of the same name
// under GroupsBase whose members (member: <UserDN>) are the maintainers.
func (s *Server) AddTool(t testing.TB, project, name string, uid int64, home string, maintainers ...string) {
	t.Helper()
	cn := project + "." + name
	id := strconv.FormatInt(uid, 10)
	s.Add(t, s.ToolDN(project, name), map[string][]string{
		"objectClass":   {"account", "posixAccount"},
		"uid":           {cn},
		"cn":            {cn},
		"uidNumber":     {id},
		"gidNumber":     {id},
		"homeDirectory": {home},
		"loginShell":    {"/bin/bash"},
	})
	group := map[string][]string{
		// posixGroup is structural in the nis schema, so `member` needs
		// extensibleObject (production uses rfc2307bis for the same effect).
		"objectClass": {"posixGroup", "extensibleObject"},
		"cn":          {cn},
		"gidNumber":   {id},
	}
	for _, m := range maintainers {
		group["member"] = append(group["member"], s.UserDN(m))
	}
	s.Add(t, s.GroupDN(project, name), group)
}

// AddUser adds a person (inetOrgPerson + posixAccount) under PeopleBase.
func (s *Server) AddUser(t testing.TB, name string, uid int64, home string) {
	t.Helper()
	id := strconv.FormatInt(uid, 10)
	s.Add(t, s.UserDN(name), map[string][]string{
		"objectClass":   {"inetOrgPerson", "posixAccount"},
		"uid":           {name},
		"cn":            {name},
		"sn":            {name},
		"uidNumber":     {id},
		"gidNumber":     {id},
		"homeDirectory": {home},
	})
}

// AddAdmin makes name a member of <project>.admin, creating the group if
// needed. The person entry is AddUser's business.
func (s *Server) AddAdmin(t testing.TB, project, name string) {
	t.Helper()
	dn := s.GroupDN(project, "admin")
	err := s.do(func(c *ldap.Conn) error {
		add := ldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", []string{"posixGroup", "extensibleObject"})
		add.Attribute("cn", []string{project + ".admin"})
		add.Attribute("gidNumber", []string{"999"})
		add.Attribute("member", []string{s.UserDN(name)})
		err := c.Add(add)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return err
		}
		mod := ldap.NewModifyRequest(dn, nil)
		mod.Add("member", []string{s.UserDN(name)})
		return c.Modify(mod)
	})
	if err != nil {
		t.Fatalf("testldap: add %s to %s: %v", name, dn, err)
	}
}

// LockTool sets pwdAccountLockedTime on the tool, which disables it.
func (s *Server) LockTool(t testing.TB, project, name string) {
	t.Helper()
	mod := ldap.NewModifyRequest(s.ToolDN(project, name), nil)
	mod.Replace("pwdAccountLockedTime", []string{LockedForever})
	s.Modify(t, mod)
}

// UnlockTool removes pwdAccountLockedTime.
func (s *Server) UnlockTool(t testing.TB, project, name string) {
	t.Helper()
	mod := ldap.NewModifyRequest(s.ToolDN(project, name), nil)
	mod.Delete("pwdAccountLockedTime", nil)
	s.Modify(t, mod)
}

// SetToolPolicy points the tool's pwdPolicySubentry at policyDN (e.g.
// DisabledPolicyDN), which disables it; an empty policyDN removes it.
func (s *Server) SetToolPolicy(t testing.TB, project, name, policyDN string) {
	t.Helper()
	mod := ldap.NewModifyRequest(s.ToolDN(project, name), nil)
	if policyDN == "" {
		mod.Delete("pwdPolicySubentry", nil)
	} else {
		mod.Replace("pwdPolicySubentry", []string{policyDN})
	}
	s.Modify(t, mod)
}

// DeleteTool deletes the tool's account and group.
func (s *Server) DeleteTool(t testing.TB, project, name string) {
	t.Helper()
	s.Delete(t, s.ToolDN(project, name))
	s.Delete(t, s.GroupDN(project, name))
}

// Add adds any entry, as the rootDN.
func (s *Server) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	req := ldap.NewAddRequest(dn, nil)
	for name, values := range attrs {
		req.Attribute(name, values)
	}
	if err := s.do(func(c *ldap.Conn) error { return c.Add(req) }); err != nil {
		t.Fatalf("testldap: add %s: %v", dn, err)
	}
}

// Modify applies any change, as the rootDN.
func (s *Server) Modify(t testing.TB, req *ldap.ModifyRequest) {
	t.Helper()
	if err := s.do(func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
		t.Fatalf("testldap: modify %s: %v", req.DN, err)
	}
}

// Delete deletes an entry (without children), as the rootDN.
func (s *Server) Delete(t testing.TB, dn string) {
	t.Helper()
	if err := s.do(func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) }); err != nil {
		t.Fatalf("testldap: delete %s: %v", dn, err)
	}
}

// Do runs f on a connection bound as the rootDN, for anything the helpers
// do not cover. The connection is shared: f must not close it or rebind.
func (s *Server) Do(f func(*ldap.Conn) error) error { return s.do(f) }

func (s *Server) do(f func(*ldap.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.conn.IsClosing() {
		c, err := ldap.DialURL(s.URL)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", s.URL, err)
		}
		if err := c.Bind(s.BindDN, s.Password); err != nil {
			c.Close()
			return fmt.Errorf("bind as %s: %w", s.BindDN, err)
		}
		s.conn = c
	}
	err := f(s.conn)
	var lerr *ldap.Error
	if errors.As(err, &lerr) && lerr.ResultCode == ldap.ErrorNetwork {
		s.conn.Close()
		s.conn = nil
	}
	return err
}

// WriteConfig writes the configuration file of the ldap account source
// (see accountsource.LoadLDAPConfig) for this server and project, binding
// as the read-only account; the password goes to <path>.password.
func (s *Server) WriteConfig(t testing.TB, path, project string) {
	t.Helper()
	secret := path + ".password"
	cfg := map[string]any{
		"url":              s.URL,
		"bindDN":           s.ReaderDN,
		"bindPasswordFile": secret,
		"project":          project,
		"toolsBase":        s.ToolsBase,
		"groupsBase":       s.GroupsBase,
		"usersBase":        s.PeopleBase,
		"timeout":          "10s",
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("testldap: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("testldap: %v", err)
	}
	// A trailing newline, as secrets written by hand have one.
	if err := os.WriteFile(secret, []byte(s.ReaderPassword+"\n"), 0o600); err != nil {
		t.Fatalf("testldap: write bind password: %v", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testldap: write ldap config: %v", err)
	}
}
