package accountsource

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const bases = `
toolsBase: ou=people,ou=servicegroups,dc=example,dc=org
groupsBase: ou=servicegroups,dc=example,dc=org
usersBase: ou=people,dc=example,dc=org
`

func TestLoadLDAPConfig(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "not.pem")
	for path, content := range map[string]string{secret: "s3cret\n", empty: "\n", notPEM: "hello"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantBases := LDAP{
		ToolsBase:  "ou=people,ou=servicegroups,dc=example,dc=org",
		GroupsBase: "ou=servicegroups,dc=example,dc=org",
		UsersBase:  "ou=people,dc=example,dc=org",
	}
	with := func(f func(*LDAP)) *LDAP { l := wantBases; f(&l); return &l }

	cases := []struct {
		name    string
		content string
		want    *LDAP
		wantErr []string
	}{
		{
			name: "a complete file is read as written",
			content: "url: ldap://ldap.example.org:3389\nbindDN: cn=reader,dc=example,dc=org\nbindPasswordFile: " + secret +
				"\nproject: toolsbeta\ntimeout: 3s\npageSize: 100\n" + bases,
			want: with(func(l *LDAP) {
				l.URL, l.BindDN, l.BindPasswordFile = "ldap://ldap.example.org:3389", "cn=reader,dc=example,dc=org", secret
				l.Project, l.Timeout, l.PageSize = "toolsbeta", 3*time.Second, 100
			}),
		},
		{
			name:    "project, timeout and page size have defaults and no bindDN means anonymous",
			content: "url: ldaps://ldap.example.org\n" + bases,
			want: with(func(l *LDAP) {
				l.URL, l.Project, l.Timeout, l.PageSize = "ldaps://ldap.example.org", "tools", 10*time.Second, 500
			}),
		},
		{
			name:    "an inline bindPassword is accepted",
			content: "url: ldap://h\nbindDN: cn=a,dc=b\nbindPassword: pw\n" + bases,
			want: with(func(l *LDAP) {
				l.URL, l.BindDN, l.BindPassword, l.Project, l.Timeout, l.PageSize = "ldap://h", "cn=a,dc=b", "pw", "tools", 10*time.Second, 500
			}),
		},
		{name: "an unknown field is an error", content: "url: ldap://h\nbindPw: x\n" + bases, wantErr: []string{`unknown field "bindPw"`}},
		{name: "a file that is not YAML is an error", content: "url: [\n", wantErr: []string{"parse ldap config"}},
		{name: "a timeout that is a number rather than a duration names the field", content: "url: ldap://h\ntimeout: 10\n" + bases, wantErr: []string{"timeout"}},
		{name: "a missing url is an error", content: bases, wantErr: []string{"url: is required"}},
		{name: "a url of another scheme is an error", content: "url: http://h\n" + bases, wantErr: []string{`url: must start with ldap:// or ldaps:// (got "http://h")`}},
		{name: "a url without a host is an error", content: "url: ldap://\n" + bases, wantErr: []string{"url: has no host"}},
		{name: "startTLS on an ldaps url is an error", content: "url: ldaps://h\nstartTLS: true\n" + bases, wantErr: []string{"startTLS: cannot be used with an ldaps:// url"}},
		{name: "a caFile without TLS is an error", content: "url: ldap://h\ncaFile: " + notPEM + "\n" + bases, wantErr: []string{"caFile: is only used with"}},
		{name: "a caFile without certificates is an error", content: "url: ldaps://h\ncaFile: " + notPEM + "\n" + bases, wantErr: []string{"caFile: no PEM certificate in " + notPEM}},
		{name: "a caFile that does not exist is an error", content: "url: ldaps://h\ncaFile: /nonexistent/ca.pem\n" + bases, wantErr: []string{"caFile: open /nonexistent/ca.pem"}},
		{name: "both password fields is an error", content: "url: ldap://h\nbindDN: cn=a\nbindPassword: x\nbindPasswordFile: " + secret + "\n" + bases, wantErr: []string{"bindPassword: and bindPasswordFile are both set"}},
		{name: "a bindDN without a password is an error", content: "url: ldap://h\nbindDN: cn=a\n" + bases, wantErr: []string{"bindPasswordFile: or bindPassword is required with bindDN"}},
		{name: "a password without a bindDN is an error", content: "url: ldap://h\nbindPassword: x\n" + bases, wantErr: []string{"bindDN: is required when a bind password is set"}},
		{name: "a bindDN that is not a DN is an error", content: "url: ldap://h\nbindDN: reader\nbindPassword: x\n" + bases, wantErr: []string{`bindDN: "reader" is not a DN`}},
		{name: "a password file that does not exist is an error", content: "url: ldap://h\nbindDN: cn=a\nbindPasswordFile: /nonexistent/secret\n" + bases, wantErr: []string{"bindPasswordFile: open /nonexistent/secret"}},
		{name: "an empty password file is an error", content: "url: ldap://h\nbindDN: cn=a\nbindPasswordFile: " + empty + "\n" + bases, wantErr: []string{"bindPasswordFile: " + empty + " is empty"}},
		{name: "a base that is not a DN is an error", content: "url: ldap://h\ntoolsBase: people\ngroupsBase: ou=g\nusersBase: ou=u\n", wantErr: []string{`toolsBase: "people" is not a DN`}},
		{name: "a timeout that does not parse is an error", content: "url: ldap://h\ntimeout: ten\n" + bases, wantErr: []string{`timeout: "ten" is not a duration`}},
		{name: "a timeout that is not positive is an error", content: "url: ldap://h\ntimeout: -1s\n" + bases, wantErr: []string{"timeout: must be positive"}},
		{name: "a page size of zero is an error", content: "url: ldap://h\npageSize: 0\n" + bases, wantErr: []string{"pageSize: must be between 1 and"}},
		{
			name:    "every problem is reported at once",
			content: "url: ftp://h\n",
			wantErr: []string{"url: must start with", "toolsBase: is required", "groupsBase: is required", "usersBase: is required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ldap.yaml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadLDAPConfig(path)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("loaded %+v, want an error", got)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("err = %v\nwant it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadLDAPConfigOfAMissingFileIsAnError(t *testing.T) {
	if _, err := LoadLDAPConfig(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "read ldap config") {
		t.Fatalf("err = %v, want a read error", err)
	}
}
