package builder

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Main is the builder's command line: build, install, launch.
func Main(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: toolforge-builder build|install|launch …")
	}
	switch args[0] {
	case "install":
		if len(args) != 2 {
			return errors.New("usage: toolforge-builder install DEST")
		}
		return install(args[1])
	case "launch":
		return Launch(args[1:])
	case "build":
		return buildMain(args[1:])
	}
	return fmt.Errorf("unknown command %q: want build, install or launch", args[0])
}

// install copies the running binary to dest (the build pod's shared
// volume, so the build container, on another image, runs it).
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755) //nolint:gosec // G302: a program, run by the build container
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

type multi map[string]string

func (m multi) String() string { return fmt.Sprint(map[string]string(m)) }
func (m multi) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	m[k] = v
	return nil
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func buildMain(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	o := Options{Bases: map[string]string{}, Mirrors: map[string]string{}, Log: os.Stdout}
	var tags list
	var tokenFile, result string
	fs.StringVar(&o.Source, "source", "", "git repository URL")
	fs.StringVar(&o.Ref, "ref", "", "branch, tag or commit (default HEAD)")
	fs.StringVar(&o.Image, "image", "", "repository to push to (<registry>/tool-<tool>/<name>)")
	fs.Var(&tags, "tag", "tag to push (repeatable; the first is the cache's)")
	fs.Var(multi(o.Bases), "base", "LANGUAGE=IMAGE: the run base of a language (repeatable)")
	fs.Var(multi(o.Mirrors), "mirror", "HOST=URL: reach registry HOST at URL (repeatable)")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the registry token")
	fs.BoolVar(&o.UseLatestVersions, "use-latest-versions", false, "ignore lock files")
	fs.StringVar(&o.DebianMirror, "debian-mirror", "http://deb.debian.org/debian", "Debian mirror of Aptfile packages")
	fs.StringVar(&o.DebianSuite, "debian-suite", "bookworm", "Debian release of the run bases")
	fs.StringVar(&o.WorkDir, "workdir", "/workspace", "scratch space")
	fs.StringVar(&result, "result", "/dev/termination-log", "where the result (JSON) is written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		o.Token = strings.TrimSpace(string(data))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.Self = self
	o.Tags = tags
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	res, err := Build(ctx, o)
	if err != nil {
		data, _ := json.Marshal(map[string]string{"error": err.Error()})
		_ = os.WriteFile(result, data, 0o600)
		return err
	}
	return WriteResult(result, res)
}
