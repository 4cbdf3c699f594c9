// Command images is `make images`: it builds the platform's OCI image
// (the static toolforged, on a base made here from files) and packages
// the Helm chart, both tagged <version>-<short git hash>, without Docker
// and without a helm binary; pushes both to --registry when given, with
// --registry-credentials at the registry's token service (else
// writes an OCI layout and the chart archive under --out); and prints each
// reference with its digest, as ko does:
//
//	127.0.0.1:5000/toolforge:0.1.0-abc1234@sha256:…
//	oci://127.0.0.1:5000/charts/toolforge:0.1.0-abc1234@sha256:…
//
// The same commit gives the same digests: every timestamp is the commit's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/toolforge-go/toolforge/internal/deploy"
	"github.com/toolforge-go/toolforge/internal/platformimage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	registry := flag.String("registry", "", "push to this registry (host[:port]); plain HTTP for a loopback one")
	credsFile := flag.String("registry-credentials", "", "a file of one line username:password for the registry's token service (a devcluster's: DIR/registry/credentials/admin); without it, the registry must take anonymous pushes")
	repo := flag.String("repository", "toolforge", "the image's repository in the registry (the chart goes to charts/<chart name>)")
	version := flag.String("version", "", "the version before the git hash (default: the chart's version)")
	commit := flag.String("commit", "", "the short git hash in the tag (default: HEAD's)")
	out := flag.String("out", "bin/images", "where the binary, the OCI layout (without --registry) and the chart archive go")
	chartDir := flag.String("chart", "deploy/chart/toolforge", "the chart")
	cacerts := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle shipped in the image (Debian's ca-certificates)")
	victoriaLogs := flag.String("victoria-logs", "bin/victoria-logs", "the log store the image carries as /victoria-logs (make bin/victoria-logs)")
	vlagent := flag.String("vlagent", "bin/vlagent", "the log collector the image carries as /vlagent (make bin/vlagent)")
	flag.Parse()
	start := time.Now()

	ch, err := loader.LoadDir(*chartDir)
	if err != nil {
		return fmt.Errorf("load chart: %w", err)
	}
	if *version == "" {
		*version = ch.Metadata.Version
	}
	if *commit == "" {
		if *commit, err = git("rev-parse", "--short=7", "HEAD"); err != nil {
			return err
		}
	}
	if st, _ := git("status", "--porcelain", "--untracked-files=no"); st != "" {
		fmt.Fprintf(os.Stderr, "warning: the working tree has changes: this build is not commit %s's\n", *commit)
	}
	epoch, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return err
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("commit time %q: %w", epoch, err)
	}
	created := time.Unix(secs, 0).UTC()
	tag := *version + "-" + *commit

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	bin, builder := filepath.Join(*out, "toolforged"), filepath.Join(*out, "toolforge-builder")
	for _, b := range []struct{ out, pkg string }{{bin, "./cmd/toolforged"}, {builder, "./cmd/toolforge-builder"}} {
		fmt.Fprintf(os.Stderr, "building %s %s (static)\n", filepath.Base(b.out), tag)
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X github.com/toolforge-go/toolforge/internal/version.Version="+tag,
			"-o", b.out, b.pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b.pkg, err)
		}
	}
	for _, p := range []string{*victoriaLogs, *vlagent} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: make images builds it (make bin/victoria-logs bin/vlagent)", err)
		}
	}
	img, err := platformimage.Build(platformimage.Options{Binary: bin, Builder: builder, CACerts: *cacerts, Created: created, Version: tag, Revision: *commit,
		Programs: map[string]string{"/victoria-logs": *victoriaLogs, "/vlagent": *vlagent}})
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	chartData, err := deploy.PackageChart(*chartDir, tag, created)
	if err != nil {
		return err
	}
	archive := filepath.Join(*out, ch.Metadata.Name+"-"+tag+".tgz")
	if err := os.WriteFile(archive, chartData, 0o644); err != nil {
		return err
	}

	if *registry == "" {
		dir := filepath.Join(*out, "oci")
		if err := writeLayout(dir, img); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote the image to %s and the chart to %s (%s)\n", dir, archive, time.Since(start).Round(100*time.Millisecond))
		fmt.Printf("%s:%s@%s\n", *repo, tag, digest)
		fmt.Printf("%s\n", archive)
		return nil
	}
	ref, err := name.NewTag(*registry + "/" + *repo + ":" + tag)
	if err != nil {
		return err
	}
	var creds deploy.RegistryCredentials
	auth := authn.Anonymous
	if *credsFile != "" {
		if creds, err = deploy.ReadRegistryCredentials(*credsFile); err != nil {
			return err
		}
		auth = &authn.Basic{Username: creds.Username, Password: creds.Password}
	}
	fmt.Fprintf(os.Stderr, "pushing %s\n", ref)
	if err := remote.Write(ref, img, remote.WithContext(context.Background()), remote.WithAuth(auth)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	chartRepo := *registry + "/charts/" + ch.Metadata.Name
	chartDigest, err := deploy.PushChart(chartData, chartRepo, tag, created, creds)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pushed in %s\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("%s@%s\n", ref, digest)
	fmt.Printf("oci://%s:%s@%s\n", chartRepo, tag, chartDigest)
	return nil
}

func writeLayout(dir string, img v1.Image) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img)
}

func git(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
