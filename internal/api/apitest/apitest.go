// Package apitest runs the real `toolforged api` against a test cluster,
// as its own least-privilege identity: a ServiceAccount bound to exactly
// the roles the API server documents (api.WatchClusterRole cluster-wide,
// api.PlatformRole in the platform namespace, and api.ClusterRole in each
// tool namespace by the real accounts controller). Every end-to-end test through it is also a test that
// those roles are enough.
package apitest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// ServiceAccount is the API server's identity in tests.
const ServiceAccount = "toolforge-api"

// Server is a running `toolforged api`.
type Server struct {
	URL  string
	Addr string
	// MetricsURL is the process's /metrics (--metrics-addr).
	MetricsURL string
	Kubeconfig string // the ServiceAccount's
	Log        string
	cmd        *exec.Cmd
}

// Start installs the API's RBAC, makes its ServiceAccount kubeconfig and
// starts the server on a free port; it returns once healthz answers.
// Extra arguments go to toolforged.
func Start(ctx context.Context, c *testcluster.Cluster, extra ...string) (*Server, error) {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	kubeconfig, err := serviceAccountKubeconfig(ctx, c)
	if err != nil {
		return nil, err
	}
	port, err := testcluster.FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := testcluster.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:       "127.0.0.1:" + strconv.Itoa(port),
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics",
		Kubeconfig: kubeconfig,
		Log:        filepath.Join(c.Dir, "logs", "toolforged-api.log"),
	}
	s.URL = "https://" + s.Addr
	logFile, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// At the most verbose level: what a test finds missing from the log
	// (a value, a token) is missing from every level.
	args := append([]string{"api", "--kubeconfig", kubeconfig, "--api-addr", s.Addr,
		"--api-client-ca-file", c.CACert, "--metrics-addr", strings.TrimSuffix(strings.TrimPrefix(s.MetricsURL, "http://"), "/metrics"), "--health-addr", "0", "--log-level", "debug"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// The server must not outlive the test binary.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start toolforged api: %w", err)
	}
	if err := s.waitHealthy(ctx); err != nil {
		_ = s.Stop() // it did not start: that error is the one to report
		log, _ := os.ReadFile(s.Log)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

// Stop ends the server (SIGTERM, then waits).
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		return <-done
	}
}

func (s *Server) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for {
		resp, err := hc.Get(s.URL + api.HealthzPath("jobs"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if s.cmd.ProcessState != nil {
			return fmt.Errorf("toolforged api exited")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("toolforged api did not become healthy: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CA is the PEM bundle the server published for clients.
func CA(ctx context.Context, c *testcluster.Cluster) ([]byte, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return []byte(cm.Data[api.ConfigMapCAKey]), nil
}

// Client is an HTTPS client trusting the server's published CA, with the
// given client certificate (none when certFile is empty).
func Client(ctx context.Context, c *testcluster.Cluster, certFile, keyFile string) (*http.Client, error) {
	ca, err := CA(ctx, c)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("published CA bundle is empty")
	}
	cfg := &tls.Config{RootCAs: pool}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// Subject is the API server's identity as a binding subject.
func Subject() rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccount, Namespace: tenancy.PlatformNamespace}
}

// GrantPlatformRole gives the API server its platform Role in namespace
// ns (made if missing), for a server started with --platform-namespace ns.
func GrantPlatformRole(ctx context.Context, c *testcluster.Cluster, ns string) error {
	kube := c.Client
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := api.InstallRBAC(ctx, kube, ns); err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: api.RoleName, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: api.RoleName},
		Subjects:   []rbacv1.Subject{Subject()},
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// serviceAccountKubeconfig binds ServiceAccount toolforge-api to the API's
// roles as an admin would (WatchClusterRole cluster-wide, PlatformRole in
// the platform namespace; ClusterRole is bound in each tool namespace by
// the accounts controller, which provisions the tools) and writes a
// kubeconfig with a token for it.
func serviceAccountKubeconfig(ctx context.Context, c *testcluster.Cluster) (string, error) {
	ns := tenancy.PlatformNamespace
	kube := c.Client
	if err := api.InstallRBAC(ctx, kube, ns); err != nil {
		return "", err
	}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccount}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: api.WatchRoleName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: api.WatchRoleName},
		Subjects:   []rbacv1.Subject{Subject()},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	if err := GrantPlatformRole(ctx, c, ns); err != nil {
		return "", err
	}
	tok, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, ServiceAccount, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", ServiceAccount, err)
	}
	ca, err := os.ReadFile(c.CACert)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: c.APIURL, CertificateAuthorityData: ca}
	cfg.AuthInfos[ServiceAccount] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: ServiceAccount}
	cfg.CurrentContext = "test"
	path := filepath.Join(c.Dir, "toolforge-api.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, nil
}
