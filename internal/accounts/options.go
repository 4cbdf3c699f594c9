package accounts

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/toolforge-go/toolforge/internal/accounts/storage"
	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Options are the flags of `toolforged accounts` (SPEC §4).
type Options struct {
	AccountsFile  string
	LDAPConfig    string
	Project       string
	HomeRoot      string
	AdminHomeRoot string
	QuotasFile    string
	Once          bool
	Interval      time.Duration
	Gentle        bool
	Workers       int
	// ContextName names the kubeconfig context, cluster and (derived)
	// user entries, and the credentials directories, this controller
	// keeps: one per cluster when two run side by side (SPEC §9).
	ContextName string
	// ForceMigrate switches every tool's current-context to ContextName
	// and does nothing else (the migration's forced phase; with --once).
	ForceMigrate bool

	CertLifetime time.Duration
	RenewBefore  time.Duration
	RemovalGrace time.Duration

	// APIServerURL and ClusterCAFile go into tools' kubeconfigs; by default
	// the platform's own API URL and CA.
	APIServerURL  string
	ClusterCAFile string

	// APIIdentity is the user name of the jobs/envvars API server, bound to
	// its role in every tool namespace; "none" binds nothing. Default:
	// ServiceAccount toolforge-api of the platform namespace.
	APIIdentity string

	Storage string // hostpath, nfs or none
	// StoragePath holds <tool>/ on the NFS server (nfs only: a hostpath
	// volume is the tool's home itself).
	StoragePath string
	NFSServer   string
	SharedData  []string // name=path[:mountPath], read-only
}

// DefaultOptions are the flag defaults.
func DefaultOptions() *Options {
	return &Options{
		HomeRoot:      "/data/project",
		AdminHomeRoot: "/home",
		Interval:      2 * time.Minute,
		Workers:       32,
		ContextName:   tenancy.ContextName,
		CertLifetime:  365 * 24 * time.Hour,
		RenewBefore:   30 * 24 * time.Hour,
		RemovalGrace:  7 * 24 * time.Hour,
		Storage:       "hostpath",
		SharedData:    []string{"dumps=/public/dumps"},
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.AccountsFile, "accounts-file", o.AccountsFile, "account source: a YAML file of tools and admins")
	fs.StringVar(&o.LDAPConfig, "ldap-config", o.LDAPConfig, "account source: an LDAP configuration file")
	fs.StringVar(&o.Project, "project", o.Project, "project whose tools are provisioned, LDAP entries <project>.<tool> (default: the LDAP config's, else tools)")
	fs.StringVar(&o.HomeRoot, "home-root", o.HomeRoot, "tools' home directories: <home-root>/<tool> unless the source says otherwise")
	fs.StringVar(&o.AdminHomeRoot, "admin-home-root", o.AdminHomeRoot, "admins' home directories: <admin-home-root>/<admin> unless the source says otherwise")
	fs.StringVar(&o.QuotasFile, "quotas-file", o.QuotasFile, "per-tool quota and limit range overrides (YAML)")
	fs.BoolVar(&o.Once, "once", o.Once, "make one pass over every account and exit (non-zero if any account failed)")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "how often to re-read the source and re-check every account")
	fs.BoolVar(&o.Gentle, "gentle", o.Gentle, "never set or change a kubeconfig's current-context (a second cluster, opt-in)")
	fs.StringVar(&o.ContextName, "context-name", o.ContextName, "name of the kubeconfig context and cluster entries this controller keeps (users <name>-<tool>, credentials in .toolskube-<name>; "+tenancy.ContextName+": tf-<tool> and .toolskube)")
	fs.BoolVar(&o.ForceMigrate, "force-migrate", o.ForceMigrate, "switch every tool's current-context to --context-name and exit, changing nothing else (needs --once)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "accounts provisioned in parallel")
	fs.DurationVar(&o.CertLifetime, "cert-lifetime", o.CertLifetime, "lifetime of issued client certificates")
	fs.DurationVar(&o.RenewBefore, "cert-renew-before", o.RenewBefore, "renew a certificate when it has less than this left")
	fs.DurationVar(&o.RemovalGrace, "removal-grace", o.RemovalGrace, "delete the namespace of a tool gone from the source after this long")
	fs.StringVar(&o.APIServerURL, "api-server-url", o.APIServerURL, "API server URL written into kubeconfigs (default: the platform's own)")
	fs.StringVar(&o.ClusterCAFile, "cluster-ca-file", o.ClusterCAFile, "CA bundle written into kubeconfigs (default: the platform's own)")
	fs.StringVar(&o.APIIdentity, "api-identity", o.APIIdentity, "user name of the jobs/envvars API server, bound to ClusterRole "+tenancy.APIRole+" in every tool namespace (\"none\": no binding; default: system:serviceaccount:<platform-namespace>:"+tenancy.APIServiceAccount+")")
	fs.StringVar(&o.Storage, "storage", o.Storage, "tool home volumes: hostpath (on the nodes), nfs, or none")
	fs.StringVar(&o.StoragePath, "storage-path", o.StoragePath, "directory holding <tool>/ on the NFS server (--storage nfs; default /data/project); a hostpath volume is the tool's home itself")
	fs.StringVar(&o.NFSServer, "nfs-server", o.NFSServer, "NFS server of the tool home volumes (--storage nfs)")
	fs.StringSliceVar(&o.SharedData, "shared-data", o.SharedData, "read-only shared data every tool gets, name=path[:mountPath]")
}

// Validate checks the flags and returns the account source they name.
func (o *Options) Validate() (accountsource.Source, error) {
	if (o.AccountsFile == "") == (o.LDAPConfig == "") {
		return nil, fmt.Errorf("give exactly one account source: --accounts-file or --ldap-config")
	}
	if err := tenancy.ValidateContextName(o.ContextName); err != nil {
		return nil, fmt.Errorf("--context-name: %w", err)
	}
	if o.ForceMigrate && !o.Once {
		return nil, fmt.Errorf("--force-migrate needs --once: it switches every tool once and exits")
	}
	if o.ForceMigrate && o.Gentle {
		return nil, fmt.Errorf("--force-migrate and --gentle contradict each other: gentle mode never changes a current-context")
	}
	if o.Workers < 1 {
		return nil, fmt.Errorf("--workers must be at least 1 (got %d)", o.Workers)
	}
	if o.Interval < time.Second {
		return nil, fmt.Errorf("--interval must be at least 1s (got %s)", o.Interval)
	}
	if o.RenewBefore >= o.CertLifetime {
		return nil, fmt.Errorf("--cert-renew-before (%s) must be shorter than --cert-lifetime (%s)", o.RenewBefore, o.CertLifetime)
	}
	for _, p := range []*string{&o.HomeRoot, &o.AdminHomeRoot} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	switch o.Storage {
	case "hostpath", "none":
		if o.StoragePath != "" {
			return nil, fmt.Errorf("--storage-path is for --storage nfs: a %s home volume is the tool's home (<home-root>/<tool> or the source's home)", o.Storage)
		}
	case "nfs":
		if o.NFSServer == "" {
			return nil, fmt.Errorf("--storage nfs needs --nfs-server")
		}
		if o.StoragePath == "" {
			o.StoragePath = "/data/project"
		}
	default:
		return nil, fmt.Errorf("--storage must be hostpath, nfs or none (got %q)", o.Storage)
	}
	if _, err := storage.ParseSharedData(o.SharedData); err != nil {
		return nil, err
	}
	if o.AccountsFile != "" {
		return accountsource.File{Path: o.AccountsFile}, nil
	}
	return loadLDAP(o.LDAPConfig, o.Project)
}
