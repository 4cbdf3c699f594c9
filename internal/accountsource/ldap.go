package accountsource

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAP reads accounts from a directory laid out like Wikimedia's (what
// maintain-kubeusers reads):
//   - a tool is a posixAccount cn=<project>.<tool> under ToolsBase, with
//     uidNumber and homeDirectory; pwdAccountLockedTime or
//     pwdPolicySubentry on it means the tool is disabled;
//   - its maintainers are the members (member: <DN with a uid RDN>, or
//     memberUid: <name>) of the posixGroup cn=<project>.<tool> under
//     GroupsBase;
//   - admins are the members of the group <project>.admin, and their
//     uidNumber and homeDirectory are those of the entry uid=<name> under
//     UsersBase.
//
// Every Load opens a new connection, so a directory restart between two
// loads costs nothing.
type LDAP struct {
	URL      string // ldap://host:port or ldaps://host:port
	StartTLS bool
	TLS      *tls.Config // for ldaps:// and StartTLS; nil: the system's roots

	BindDN       string // empty: anonymous
	BindPassword string
	// BindPasswordFile, when set, is read on every Load, so a rotated
	// secret is picked up without a restart. Trailing newlines are ignored.
	BindPasswordFile string

	Project    string // the prefix of tool and group names: tools in cn=tools.<tool>
	ToolsBase  string
	GroupsBase string
	UsersBase  string

	Timeout  time.Duration // for connecting and for each request; 0: DefaultLDAPTimeout
	PageSize uint32        // 0: DefaultLDAPPageSize
}

const (
	DefaultLDAPTimeout  = 10 * time.Second
	DefaultLDAPPageSize = 500
)

func (l *LDAP) String() string { return "ldap " + l.URL }

// Load implements Source. Any failure to connect, bind or search is an
// error, never a partial snapshot.
func (l *LDAP) Load(ctx context.Context) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("ldap %s: %w", l.URL, err)
	}
	conn, err := l.connect()
	if err != nil {
		return Snapshot{}, err
	}
	defer conn.Close()
	// go-ldap's paged search does not take a context; closing the
	// connection is what interrupts it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	snap, err := l.read(conn)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Snapshot{}, fmt.Errorf("ldap %s: %w", l.URL, ctxErr)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("ldap %s: %w", l.URL, err)
	}
	return snap, nil
}

func (l *LDAP) connect() (*ldap.Conn, error) {
	u, err := url.Parse(l.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap url %q: %w", l.URL, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if l.TLS != nil {
		tlsConfig = l.TLS.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = u.Hostname()
	}
	timeout := l.timeout()
	conn, err := ldap.DialURL(l.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(tlsConfig))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", l.URL, err)
	}
	conn.SetTimeout(timeout)
	if l.StartTLS {
		if err := conn.StartTLS(tlsConfig); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start TLS with %s: %w", l.URL, err)
		}
	}
	if l.BindDN != "" {
		password, err := l.password()
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.Bind(l.BindDN, password); err != nil {
			conn.Close()
			return nil, fmt.Errorf("bind to %s as %s: %w", l.URL, l.BindDN, err)
		}
	}
	return conn, nil
}

func (l *LDAP) password() (string, error) {
	if l.BindPasswordFile == "" {
		return l.BindPassword, nil
	}
	data, err := os.ReadFile(l.BindPasswordFile)
	if err != nil {
		return "", fmt.Errorf("read bind password: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

func (l *LDAP) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultLDAPTimeout
}

func (l *LDAP) pageSize() uint32 {
	if l.PageSize > 0 {
		return l.PageSize
	}
	return DefaultLDAPPageSize
}

// search is always paged: a directory with thousands of tools exceeds the
// size limit a server applies to unpaged searches.
func (l *LDAP) search(conn *ldap.Conn, what, base, filter string, attrs ...string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	res, err := conn.SearchWithPaging(req, l.pageSize())
	if err != nil {
		return nil, fmt.Errorf("search %s under %q with %s: %w", what, base, filter, err)
	}
	return res.Entries, nil
}
