package etcdbackup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Devcluster is a devcluster directory and the devcluster program that
// runs it: where its etcd is, and how to stop, restore and start it.
type Devcluster struct {
	Dir string
	// Bin is the devcluster program (default: devcluster on PATH).
	Bin string
}

// devState is what this package reads of devcluster's state file.
type devState struct {
	Phase      string `json:"phase"`
	APIURL     string `json:"apiURL"`
	EtcdURL    string `json:"etcdURL"`
	EtcdCACert string `json:"etcdCACert"`
	EtcdCert   string `json:"etcdCert"`
	EtcdKey    string `json:"etcdKey"`
	IngressURL string `json:"ingressURL"`
	Nodes      int    `json:"nodes"`
	KwokNodes  int    `json:"kwokNodes"`
}

func (d Devcluster) state() (devState, error) {
	var st devState
	data, err := os.ReadFile(filepath.Join(d.Dir, "state.json"))
	if err != nil {
		return st, fmt.Errorf("devcluster in %s: %w", d.Dir, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("devcluster state in %s: %w", d.Dir, err)
	}
	return st, nil
}

// EtcdConfig reaches the devcluster's etcd: on loopback, with the client
// certificate and CA its state file names (etcd refuses clients without
// one).
func (d Devcluster) EtcdConfig() (Config, error) {
	st, err := d.state()
	if err != nil {
		return Config{}, err
	}
	if st.EtcdURL == "" {
		return Config{}, fmt.Errorf("devcluster in %s records no etcd URL (started by an older devcluster? restart it)", d.Dir)
	}
	return Config{Endpoints: []string{st.EtcdURL}, CACert: st.EtcdCACert, Cert: st.EtcdCert, Key: st.EtcdKey}, nil
}

func (d Devcluster) bin() string {
	if d.Bin != "" {
		return d.Bin
	}
	return "devcluster"
}

// startArgs start the cluster again as it ran: the state file records its
// nodes and ports; the audit log was on if it has one.
func (d Devcluster) startArgs(st devState) ([]string, error) {
	args := []string{"start", "--dir", d.Dir, "--nodes", strconv.Itoa(st.Nodes), "--kwok-nodes", strconv.Itoa(st.KwokNodes)}
	port, err := urlPort(st.APIURL)
	if err != nil {
		return nil, fmt.Errorf("devcluster API URL %q: %w", st.APIURL, err)
	}
	args = append(args, "--port", port)
	if st.IngressURL != "" {
		p, err := urlPort(st.IngressURL)
		if err != nil {
			return nil, fmt.Errorf("devcluster ingress URL %q: %w", st.IngressURL, err)
		}
		args = append(args, "--ingress-port", p)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "logs", "audit.log")); err == nil {
		args = append(args, "--audit-log")
	}
	return args, nil
}

func urlPort(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Port() == "" {
		return "", errors.New("no port")
	}
	return u.Port(), nil
}

func (d Devcluster) run(ctx context.Context, progress io.Writer, args ...string) error {
	fmt.Fprintf(progress, "running %s %s\n", d.bin(), strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.bin(), args...) //nolint:gosec // G204: the devcluster program the admin named, on its own directory (toolforge-admin etcd restore only)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", d.bin(), args[0], err, strings.TrimSpace(out.String()))
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		fmt.Fprintln(progress, s)
	}
	return nil
}

// Restore puts a devcluster back to a snapshot: verify it (a corrupt or
// foreign file is refused before anything is touched), stop the cluster,
// restore the snapshot into a fresh etcd data directory (devcluster keeps
// the replaced data beside it), start the cluster again as it ran. If the
// restore step fails, the cluster is started again on its own data.
func (d Devcluster) Restore(ctx context.Context, snapshot string, progress io.Writer) (Info, error) {
	info, err := Verify(snapshot)
	if err != nil {
		return info, fmt.Errorf("refused, nothing changed: %w", err)
	}
	fmt.Fprintf(progress, "snapshot %s verified: sha256 %s, revision %d, %d keys, %d namespaces\n", snapshot, info.SHA256, info.Revision, info.LiveKeys, info.Namespaces)
	abs, err := filepath.Abs(snapshot)
	if err != nil {
		return info, err
	}
	st, err := d.state()
	if err != nil {
		return info, err
	}
	start, err := d.startArgs(st)
	if err != nil {
		return info, err
	}
	if err := d.run(ctx, progress, "stop", "--dir", d.Dir); err != nil {
		return info, err
	}
	if rerr := d.run(ctx, progress, "etcd", "restore", "--dir", d.Dir, abs); rerr != nil {
		fmt.Fprintln(progress, "restore failed; starting the cluster again on its own data")
		return info, errors.Join(rerr, d.run(ctx, progress, start...))
	}
	if err := d.run(ctx, progress, start...); err != nil {
		return info, fmt.Errorf("the snapshot is restored but the cluster did not start: %w", err)
	}
	return info, nil
}
