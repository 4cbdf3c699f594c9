package admincli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/etcdbackup"
)

func init() { nouns = append(nouns, newEtcdCommand) }

// etcdFlags choose the etcd to back up: endpoints with TLS (production), or
// a devcluster directory whose state file names its etcd.
type etcdFlags struct {
	cfg           etcdbackup.Config
	devclusterDir string
	devclusterBin string
}

func (f *etcdFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.cfg.Endpoints, "etcd-endpoints", nil, "etcd client URLs (https://host:2379,…)")
	cmd.Flags().StringVar(&f.cfg.CACert, "etcd-cacert", "", "CA bundle of etcd's serving certificate")
	cmd.Flags().StringVar(&f.cfg.Cert, "etcd-cert", "", "client certificate etcd accepts")
	cmd.Flags().StringVar(&f.cfg.Key, "etcd-key", "", "its key")
	cmd.Flags().StringVar(&f.devclusterDir, "devcluster-dir", "", "a devcluster's directory (its etcd, instead of --etcd-endpoints)")
	cmd.Flags().StringVar(&f.devclusterBin, "devcluster-bin", "devcluster", "the devcluster program (restore)")
}

func (f *etcdFlags) config() (etcdbackup.Config, error) {
	if f.devclusterDir != "" {
		if len(f.cfg.Endpoints) > 0 {
			return etcdbackup.Config{}, cli.Usagef("give --etcd-endpoints or --devcluster-dir, not both")
		}
		return etcdbackup.Devcluster{Dir: f.devclusterDir}.EtcdConfig()
	}
	if len(f.cfg.Endpoints) == 0 {
		return etcdbackup.Config{}, cli.Usagef("give --etcd-endpoints (with --etcd-cacert, --etcd-cert, --etcd-key in production) or --devcluster-dir")
	}
	return f.cfg, nil
}

func newEtcdCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{Use: "etcd", Short: "Back up and restore the cluster's etcd"}
	var flags etcdFlags
	dir := "."
	keep := 7
	backup := &cobra.Command{
		Use:   "backup [--to DIR]",
		Short: "Take a verified snapshot of etcd, named by time, and keep the newest --keep",
		Long: `Take a consistent snapshot through etcd's snapshot API into DIR as
etcd-<UTC time>.db, verify it (the sha256 etcd appends, and its keys read
back and counted) before it gets its name, then remove all but the newest
--keep snapshots in DIR. Needs etcd's client credentials, not the API's.`,
		Args: cobra.NoArgs,
	}
	out := cli.AddOutputFlag(backup, "table")
	flags.add(backup)
	backup.Flags().StringVar(&dir, "to", dir, "directory of the snapshots")
	backup.Flags().IntVar(&keep, "keep", keep, "how many snapshots to keep in the directory (retention)")
	backup.RunE = func(c *cobra.Command, _ []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		if keep < 1 {
			return cli.Usagef("--keep must be at least 1 (got %d)", keep)
		}
		cfg, err := flags.config()
		if err != nil {
			return err
		}
		fmt.Fprintf(g.Streams.ErrOut, "taking a snapshot of etcd %s into %s\n", strings.Join(cfg.Endpoints, ","), dir)
		snap, err := etcdbackup.Take(c.Context(), cfg, dir, time.Now())
		if err != nil {
			return err
		}
		removed, err := etcdbackup.Prune(dir, keep)
		for _, r := range removed {
			fmt.Fprintf(g.Streams.ErrOut, "removed %s (retention: %d)\n", r, keep)
		}
		if err != nil {
			return fmt.Errorf("snapshot taken, but retention failed: %w", err)
		}
		if out.Data() {
			return out.Print(g.Streams.Out, snap)
		}
		printInfo(g, snap.Info, fmt.Sprintf("took:\t%s\n", snap.Duration.Round(time.Millisecond)))
		return nil
	}

	verify := &cobra.Command{Use: "verify SNAPSHOT", Short: "Check a snapshot: its hash, and its keys read back", Args: cobra.ExactArgs(1)}
	vout := cli.AddOutputFlag(verify, "table")
	verify.RunE = func(c *cobra.Command, args []string) error {
		if err := vout.Check(); err != nil {
			return err
		}
		info, err := etcdbackup.Verify(args[0])
		if err != nil {
			return err
		}
		if vout.Data() {
			return vout.Print(g.Streams.Out, info)
		}
		printInfo(g, info, "")
		return nil
	}

	var rflags etcdFlags
	var yes bool
	restore := &cobra.Command{
		Use:   "restore SNAPSHOT --devcluster-dir DIR",
		Short: "Put a devcluster back to a snapshot (verified first; stop, restore, start)",
		Long: `Verify the snapshot (a corrupt one is refused before anything is touched),
stop the devcluster, restore the snapshot into a fresh etcd data directory
(the replaced data is kept beside it), and start the cluster again as it
ran. Every write made after the snapshot is lost.

Production etcd is restored by hand on every member (docs/admin.md, "Restore
etcd"): this command does it for devcluster only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if rflags.devclusterDir == "" {
				return cli.Usagef("etcd restore is implemented for devcluster: give --devcluster-dir; to restore a production etcd cluster follow docs/admin.md (Restore etcd)")
			}
			if _, err := os.Stat(args[0]); err != nil {
				return cli.Usagef("snapshot: %v", err)
			}
			// Checked before asking: a bad snapshot never gets as far as a question.
			if _, err := etcdbackup.Verify(args[0]); err != nil {
				return fmt.Errorf("refused, nothing changed: %w", err)
			}
			if err := g.Confirm(yes, fmt.Sprintf("Stop the devcluster in %s and put it back to %s (later writes are lost)?", rflags.devclusterDir, args[0])); err != nil {
				return err
			}
			d := etcdbackup.Devcluster{Dir: rflags.devclusterDir, Bin: rflags.devclusterBin}
			info, err := d.Restore(c.Context(), args[0], g.Streams.ErrOut)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Streams.ErrOut, "devcluster in %s restored to %s (revision %d, %d namespaces) and running\n", rflags.devclusterDir, args[0], info.Revision, info.Namespaces)
			return nil
		},
	}
	rflags.add(restore)
	restore.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(backup, verify, restore)
	return cmd
}

func printInfo(g *Globals, info etcdbackup.Info, extra string) {
	w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "snapshot:\t%s\nsize:\t%d bytes\nsha256:\t%s\nrevision:\t%d\nkeys:\t%d (%d revisions)\nnamespaces:\t%d\n%s",
		info.Path, info.Size, info.SHA256, info.Revision, info.LiveKeys, info.Keys, info.Namespaces, extra)
	_ = w.Flush()
}
