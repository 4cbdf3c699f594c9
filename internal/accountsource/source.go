// Package accountsource reads the tool and admin accounts the platform
// provisions: from a YAML file (small installs, the embedded default) or from
// LDAP (production).
package accountsource

import "context"

// Tool is a tool account as its source describes it. Names are not
// validated here: the provisioner decides what it can provision.
type Tool struct {
	Name        string
	UID         int64
	Home        string // empty: <home-root>/<name>
	Maintainers []string
	Disabled    bool
}

// Admin is a platform admin account.
type Admin struct {
	Name string
	UID  int64
	Home string // empty: <admin-home-root>/<name>
}

// Invalid is an entry the source could not read (a missing or malformed
// attribute). It is skipped, logged and counted; the rest still loads.
type Invalid struct {
	ID     string // what identifies the entry: a name, a DN, a list index
	Reason string
}

// Snapshot is everything a source holds at one moment.
type Snapshot struct {
	Tools   []Tool
	Admins  []Admin
	Invalid []Invalid
}

// Source reads the whole account list. Load either returns a complete
// snapshot or an error: a partial read must never look like removed tools.
type Source interface {
	Load(ctx context.Context) (Snapshot, error)
	// String names the source for logs (the file path, the LDAP URL).
	String() string
}
