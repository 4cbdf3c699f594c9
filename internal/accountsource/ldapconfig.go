package accountsource

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"sigs.k8s.io/yaml"
)

// DefaultProject is the project whose tools are read when the config and
// the caller name none.
const DefaultProject = "tools"

// ldapConfigFile is the --ldap-config file:
//
//	url: ldaps://ldap.example.org      # ldap:// or ldaps://
//	startTLS: false                    # upgrade an ldap:// connection
//	caFile: /etc/ssl/ldap-ca.pem       # CA bundle for ldaps/StartTLS; default: system roots
//	bindDN: cn=reader,dc=example,dc=org  # empty: anonymous
//	bindPasswordFile: /run/secrets/ldap  # or bindPassword: inline (one of them)
//	project: tools
//	toolsBase: ou=people,ou=servicegroups,dc=example,dc=org
//	groupsBase: ou=servicegroups,dc=example,dc=org
//	usersBase: ou=people,dc=example,dc=org
//	timeout: 10s                       # connect and per request
//	pageSize: 500
type ldapConfigFile struct {
	URL              string `json:"url"`
	StartTLS         bool   `json:"startTLS"`
	CAFile           string `json:"caFile"`
	BindDN           string `json:"bindDN"`
	BindPassword     string `json:"bindPassword"`
	BindPasswordFile string `json:"bindPasswordFile"`
	Project          string `json:"project"`
	ToolsBase        string `json:"toolsBase"`
	GroupsBase       string `json:"groupsBase"`
	UsersBase        string `json:"usersBase"`
	Timeout          string `json:"timeout"`
	PageSize         *int64 `json:"pageSize"`
}

// LoadLDAPConfig reads an ldap source's configuration. Every problem is
// reported at once, each naming its field, so a bad file is fixed in one
// go; nothing is contacted yet.
func LoadLDAPConfig(path string) (*LDAP, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ldap config: %w", err)
	}
	var f ldapConfigFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse ldap config %s: %w", path, err)
	}
	l, problems := f.toLDAP()
	if len(problems) > 0 {
		return nil, fmt.Errorf("ldap config %s: %w", path, errors.Join(problems...))
	}
	return l, nil
}

func (f ldapConfigFile) toLDAP() (*LDAP, []error) {
	var problems []error
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	l := &LDAP{
		URL: f.URL, StartTLS: f.StartTLS, BindDN: f.BindDN, BindPassword: f.BindPassword,
		BindPasswordFile: f.BindPasswordFile, Project: f.Project,
		ToolsBase: f.ToolsBase, GroupsBase: f.GroupsBase, UsersBase: f.UsersBase,
		Timeout: DefaultLDAPTimeout, PageSize: DefaultLDAPPageSize,
	}

	u, err := url.Parse(f.URL)
	switch {
	case f.URL == "":
		bad("url", "is required (ldap://host:port or ldaps://host:port)")
	case err != nil:
		bad("url", "%v", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("url", "must start with ldap:// or ldaps:// (got %q)", f.URL)
	case u.Host == "":
		bad("url", "has no host (got %q)", f.URL)
	}
	secure := u != nil && u.Scheme == "ldaps"
	if f.StartTLS && secure {
		bad("startTLS", "cannot be used with an ldaps:// url, which is TLS from the start")
	}
	if f.CAFile != "" {
		if !secure && !f.StartTLS {
			bad("caFile", "is only used with an ldaps:// url or startTLS: true")
		} else if pool, err := loadCAFile(f.CAFile); err != nil {
			bad("caFile", "%v", err)
		} else {
			l.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}

	hasPassword := f.BindPassword != "" || f.BindPasswordFile != ""
	switch {
	case f.BindPassword != "" && f.BindPasswordFile != "":
		bad("bindPassword", "and bindPasswordFile are both set; set one")
	case f.BindDN == "" && hasPassword:
		bad("bindDN", "is required when a bind password is set (leave both empty to bind anonymously)")
	case f.BindDN != "" && !hasPassword:
		bad("bindPasswordFile", "or bindPassword is required with bindDN %q", f.BindDN)
	}
	if f.BindDN != "" {
		if _, err := ldap.ParseDN(f.BindDN); err != nil {
			bad("bindDN", "%q is not a DN: %v", f.BindDN, err)
		}
	}
	if f.BindPasswordFile != "" {
		// Read now as well as at every Load: a wrong path is a config error
		// better reported at startup.
		if secret, err := os.ReadFile(f.BindPasswordFile); err != nil {
			bad("bindPasswordFile", "%v", err)
		} else if strings.TrimRight(string(secret), "\r\n") == "" {
			bad("bindPasswordFile", "%s is empty", f.BindPasswordFile)
		}
	}

	if l.Project == "" {
		l.Project = DefaultProject
	}
	for _, base := range []struct{ field, value string }{
		{"toolsBase", f.ToolsBase}, {"groupsBase", f.GroupsBase}, {"usersBase", f.UsersBase},
	} {
		if base.value == "" {
			bad(base.field, "is required (a DN, like ou=people,dc=example,dc=org)")
		} else if _, err := ldap.ParseDN(base.value); err != nil {
			bad(base.field, "%q is not a DN: %v", base.value, err)
		}
	}

	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		switch {
		case err != nil:
			bad("timeout", "%q is not a duration (like 10s or 1m)", f.Timeout)
		case d <= 0:
			bad("timeout", "must be positive (got %s)", f.Timeout)
		default:
			l.Timeout = d
		}
	}
	if f.PageSize != nil {
		if *f.PageSize < 1 || *f.PageSize > math.MaxInt32 {
			bad("pageSize", "must be between 1 and %d (got %d)", math.MaxInt32, *f.PageSize)
		} else {
			l.PageSize = uint32(*f.PageSize)
		}
	}
	return l, problems
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}
