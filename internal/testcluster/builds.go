package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Builds is what the build service needs of a devcluster with real
// nodes, as `make run` gives it: the platform's image (its builder) in the
// cluster's registry, the registry and the git server on the nodes'
// gateway, and the builds' egress proxy.
type Builds struct {
	// Gateway is the nodes' gateway address, which the host and pods
	// both reach; Git is the git server's base URL there, GitDir the
	// directory whose NAME.git it serves.
	Gateway, Git, GitDir string
	// Image is the platform's image, as pods pull it.
	Image string
	// Flags are toolforged's --builds-* flags.
	Flags []string
}

// RegistryHost is the registry host of tools' built images on devcluster
// (mirrored by the nodes to the cluster's registry).
const RegistryHost = "registry.devcluster.localhost"

// devclusterState is what this package reads of devcluster's state file.
type devclusterState struct {
	Registry string `json:"registry"`
	// RegistryCredentials is the directory of the registry's identities'
	// credentials files (admin, builds).
	RegistryCredentials string `json:"registryCredentials"`
	Git                 string `json:"git"`
	Egress              string `json:"egress"`
	Network             *struct {
		Gateway string `json:"gateway"`
	} `json:"network"`
}

func (c *Cluster) state() (devclusterState, error) {
	var st devclusterState
	data, err := os.ReadFile(filepath.Join(c.Dir, "state.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// SetUpBuilds pushes the platform's image, built by `make images`' own
// program (hack/images), to the cluster's registry, and returns the
// flags that point toolforged's build service at this cluster.
func (c *Cluster) SetUpBuilds(ctx context.Context) (*Builds, error) {
	st, err := c.state()
	if err != nil {
		return nil, err
	}
	if st.Network == nil || st.Git == "" || st.Egress == "" {
		return nil, fmt.Errorf("the cluster has no real nodes, git server or egress proxy")
	}
	gw := st.Network.Gateway
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	image, err := pushPlatformImage(ctx, root, st.Registry, filepath.Join(st.RegistryCredentials, "admin"))
	if err != nil {
		return nil, err
	}
	pw, err := os.ReadFile(filepath.Join(c.Dir, "egress", "password"))
	if err != nil {
		return nil, fmt.Errorf("egress proxy password: %w", err)
	}
	egress, err := url.Parse(st.Egress)
	if err != nil {
		return nil, err
	}
	egress.User = url.UserPassword("builds", strings.TrimSpace(string(pw)))
	registryURL := "http://" + net.JoinHostPort(gw, "5000")
	return &Builds{
		Gateway: gw, Git: st.Git, GitDir: filepath.Join(c.Dir, "git"), Image: image,
		Flags: []string{
			"--builds-registry", RegistryHost,
			"--builds-registry-url", registryURL,
			"--builds-registry-credentials", filepath.Join(st.RegistryCredentials, "builds"),
			"--builds-registry-mirror", RegistryHost + "=" + registryURL,
			"--builds-registry-mirror", "docker-registry.tools.wmflabs.org=" + registryURL,
			"--builds-builder-image", image,
			"--builds-proxy", egress.String(),
			"--builds-no-proxy", gw + ",localhost,127.0.0.1,.svc,.cluster.local",
			// This machine's way out intercepts TLS with its own CA, which
			// the host trusts and the build image does not.
			"--builds-ca-bundle", "/etc/ssl/certs/ca-certificates.crt",
		},
	}, nil
}

// pushPlatformImage runs hack/images (make images) against the registry
// and returns the image's reference as nodes pull it. Test packages
// building at once are serialised (they share bin/).
func pushPlatformImage(ctx context.Context, root, registry, credentials string) (string, error) {
	lock, err := os.OpenFile(filepath.Join(root, "bin", ".images.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	out, err := os.MkdirTemp("", "toolforge-images-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(out)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/images", "--registry", registry, "--registry-credentials", credentials, "--out", out)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("make images: %w\n%s", err, stderr.String())
	}
	// The first line is <registry>/toolforge:<tag>@sha256:…
	first, _, _ := strings.Cut(string(stdout), "\n")
	_, digest, ok := strings.Cut(first, "@")
	if !ok {
		return "", fmt.Errorf("make images printed %q", stdout)
	}
	return RegistryHost + "/toolforge@" + digest, nil
}
