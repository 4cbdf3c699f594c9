package accountsource

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Operational attributes (pwd*) are only returned when asked for by name.
var (
	toolAttrs   = []string{"cn", "uidNumber", "homeDirectory", "pwdAccountLockedTime", "pwdPolicySubentry"}
	groupAttrs  = []string{"cn", "member", "memberUid"}
	personAttrs = []string{"uid", "uidNumber", "homeDirectory"}
)

// read does the three searches (tools, groups, admins' person entries) and
// joins them.
func (l *LDAP) read(conn *ldap.Conn) (Snapshot, error) {
	prefix := l.Project + "."
	namesFilter := "(cn=" + ldap.EscapeFilter(prefix) + "*)"

	toolEntries, err := l.search(conn, "tools", l.ToolsBase, "(&(objectClass=posixAccount)"+namesFilter+")", toolAttrs...)
	if err != nil {
		return Snapshot{}, err
	}
	groupEntries, err := l.search(conn, "groups", l.GroupsBase, "(&(objectClass=posixGroup)"+namesFilter+")", groupAttrs...)
	if err != nil {
		return Snapshot{}, err
	}

	var s Snapshot
	groups := map[string][]string{} // lowercased name without the prefix → members
	for _, e := range groupEntries {
		name, ok := stripPrefix(e, prefix)
		if !ok {
			continue
		}
		members, invalid := groupMembers(e)
		groups[strings.ToLower(name)] = members
		s.Invalid = append(s.Invalid, invalid...)
	}

	s.Tools, s.Invalid = l.tools(toolEntries, prefix, groups, s.Invalid)

	adminGroup := prefix + "admin"
	if admins := groups["admin"]; len(admins) > 0 {
		persons, err := l.search(conn, "admins", l.UsersBase, uidFilter(admins), personAttrs...)
		if err != nil {
			return Snapshot{}, err
		}
		s.Admins, s.Invalid = l.admins(admins, adminGroup, persons, s.Invalid)
	}

	slices.SortFunc(s.Invalid, func(a, b Invalid) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Reason, b.Reason))
	})
	return s, nil
}

func (l *LDAP) tools(entries []*ldap.Entry, prefix string, groups map[string][]string, invalid []Invalid) ([]Tool, []Invalid) {
	byName := map[string][]string{} // lowercased name → DNs, to catch two entries claiming one tool
	var tools []Tool
	for _, e := range entries {
		name, ok := stripPrefix(e, prefix)
		if !ok {
			continue // the filter matched another cn value of the entry
		}
		if name == "" {
			invalid = append(invalid, Invalid{ID: e.DN, Reason: fmt.Sprintf("cn %q has no tool name after the project prefix", prefix)})
			continue
		}
		uid, home, reason := posixIdentity(e)
		if reason != "" {
			invalid = append(invalid, Invalid{ID: e.DN, Reason: reason})
			continue
		}
		key := strings.ToLower(name)
		byName[key] = append(byName[key], e.DN)
		tools = append(tools, Tool{
			Name:        name,
			UID:         uid,
			Home:        home,
			Maintainers: groups[key],
			Disabled: len(e.GetEqualFoldAttributeValues("pwdAccountLockedTime")) > 0 ||
				len(e.GetEqualFoldAttributeValues("pwdPolicySubentry")) > 0,
		})
	}
	// Two entries for one tool: picking either could hand the tool's files
	// to another uid, so neither loads until an admin fixes the directory.
	duplicated := map[string]bool{}
	for key, dns := range byName {
		if len(dns) < 2 {
			continue
		}
		duplicated[key] = true
		for _, dn := range dns {
			invalid = append(invalid, Invalid{ID: dn, Reason: fmt.Sprintf("%d entries define tool %q: %s", len(dns), key, strings.Join(dns, "; "))})
		}
	}
	tools = slices.DeleteFunc(tools, func(t Tool) bool { return duplicated[strings.ToLower(t.Name)] })
	if len(tools) == 0 {
		tools = nil // as when there are none: "no tools" has one representation
	}
	slices.SortFunc(tools, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return tools, invalid
}

func (l *LDAP) admins(names []string, group string, persons []*ldap.Entry, invalid []Invalid) ([]Admin, []Invalid) {
	byUID := map[string][]*ldap.Entry{}
	for _, e := range persons {
		for _, uid := range e.GetEqualFoldAttributeValues("uid") {
			byUID[strings.ToLower(uid)] = append(byUID[strings.ToLower(uid)], e)
		}
	}
	var admins []Admin
	for _, name := range names {
		matches := byUID[strings.ToLower(name)]
		switch len(matches) {
		case 0:
			invalid = append(invalid, Invalid{ID: name, Reason: fmt.Sprintf("member of %s but no entry uid=%s under %s", group, name, l.UsersBase)})
			continue
		case 1:
		default:
			invalid = append(invalid, Invalid{ID: name, Reason: fmt.Sprintf("member of %s but %d entries have uid=%s under %s", group, len(matches), name, l.UsersBase)})
			continue
		}
		uid, home, reason := posixIdentity(matches[0])
		if reason != "" {
			invalid = append(invalid, Invalid{ID: matches[0].DN, Reason: reason})
			continue
		}
		admins = append(admins, Admin{Name: name, UID: uid, Home: home})
	}
	return admins, invalid
}

// stripPrefix returns the entry's cn without the project prefix. LDAP
// compares cn case-insensitively, and so does this.
func stripPrefix(e *ldap.Entry, prefix string) (string, bool) {
	for _, cn := range e.GetEqualFoldAttributeValues("cn") {
		if len(cn) >= len(prefix) && strings.EqualFold(cn[:len(prefix)], prefix) {
			return cn[len(prefix):], true
		}
	}
	return "", false
}

// posixIdentity reads uidNumber and homeDirectory, or says why it cannot.
// A missing homeDirectory is allowed (the provisioner's home root applies);
// a relative one is not, since the provisioner writes credentials there.
func posixIdentity(e *ldap.Entry) (uid int64, home, reason string) {
	values := e.GetEqualFoldAttributeValues("uidNumber")
	if len(values) == 0 {
		return 0, "", "uidNumber is missing"
	}
	uid, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil {
		return 0, "", fmt.Sprintf("uidNumber %q is not a number in range", values[0])
	}
	if uid <= 0 {
		return 0, "", fmt.Sprintf("uidNumber %d is not positive", uid)
	}
	home = e.GetEqualFoldAttributeValue("homeDirectory")
	if home != "" && !path.IsAbs(home) {
		return 0, "", fmt.Sprintf("homeDirectory %q is not an absolute path", home)
	}
	return uid, home, ""
}

// groupMembers returns the sorted, deduplicated member names of a group,
// from member DNs (their uid RDN) and memberUid values alike. A member DN
// without a uid is reported and ignored; the group's other members stand.
func groupMembers(e *ldap.Entry) ([]string, []Invalid) {
	var names []string
	var invalid []Invalid
	for _, v := range e.GetEqualFoldAttributeValues("member") {
		if name, ok := uidOfDN(v); ok {
			names = append(names, name)
		} else {
			invalid = append(invalid, Invalid{ID: e.DN, Reason: fmt.Sprintf("member %q has no uid RDN; ignored", v)})
		}
	}
	for _, v := range e.GetEqualFoldAttributeValues("memberUid") {
		if v = strings.TrimSpace(v); v != "" {
			names = append(names, v)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), invalid
}

func uidOfDN(dn string) (string, bool) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return "", false
	}
	for _, a := range parsed.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "uid") && a.Value != "" {
			return a.Value, true
		}
	}
	return "", false
}

func uidFilter(names []string) string {
	var b strings.Builder
	b.WriteString("(|")
	for _, n := range names {
		b.WriteString("(uid=" + ldap.EscapeFilter(n) + ")")
	}
	b.WriteString(")")
	return b.String()
}
