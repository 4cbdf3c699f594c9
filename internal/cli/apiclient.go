package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Where the CLI looks for the API, after its flags.
const (
	EnvAPIURL    = "TOOLFORGE_API_URL"
	EnvAPICAFile = "TOOLFORGE_API_CA_FILE"
	// EnvCommonConfig overrides the path of the bastion's common settings.
	EnvCommonConfig   = "TOOLFORGE_COMMON_CONFIG"
	DefaultCommonPath = "/etc/toolforge/common.yaml"
)

// apiFlags are the flags of every command that talks to the API.
type apiFlags struct {
	URL    string
	CAFile string
}

func (f *apiFlags) addTo(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.URL, "api-url", "", "URL of the Toolforge API (default: $"+EnvAPIURL+", "+DefaultCommonPath+", then the cluster's "+tenancy.APIConfigMap+" ConfigMap)")
	cmd.PersistentFlags().StringVar(&f.CAFile, "api-ca-file", "", "CA bundle the API's certificate is checked against (default: $"+EnvAPICAFile+", then the cluster's "+tenancy.APIConfigMap+" ConfigMap, then the system's)")
}

// apiClient calls the jobs and envvars API as the current tool, with its
// client certificate.
type apiClient struct {
	base string
	tool *Tool
	http *http.Client
	s    *IOStreams
}

// apiEndpoint is where the API is and which CA vouches for it.
type apiEndpoint struct {
	URL string
	CA  []byte
}

// discoverAPI finds the API of the tool's cluster: --api-url,
// $TOOLFORGE_API_URL, then what that cluster's API server publishes (the
// ConfigMap every tool may read, asked through published), and only for a
// cluster that publishes none, the bastion's common.yaml (api_gateway.url).
// The cluster comes before common.yaml because during a migration one
// bastion serves tools of two clusters, each with its own API: a tool
// switched to the new cluster must reach the new cluster's API. The CA is
// --api-ca-file, $TOOLFORGE_API_CA_FILE, the ConfigMap's, or none (system
// roots).
func discoverAPI(f *apiFlags, published func() (apiEndpoint, error)) (apiEndpoint, error) {
	var ep apiEndpoint
	ep.URL = f.URL
	if ep.URL == "" {
		ep.URL = os.Getenv(EnvAPIURL)
	}
	caFile := f.CAFile
	if caFile == "" {
		caFile = os.Getenv(EnvAPICAFile)
	}
	if caFile != "" {
		ca, err := os.ReadFile(caFile)
		if err != nil {
			return ep, fmt.Errorf("API CA bundle: %w", err)
		}
		ep.CA = ca
	}
	if ep.URL != "" && ep.CA != nil {
		return ep, nil
	}
	pub, perr := published()
	if perr == nil {
		if ep.URL == "" {
			ep.URL = pub.URL
		}
		if ep.CA == nil {
			ep.CA = pub.CA
		}
		return ep, nil
	}
	if ep.URL != "" {
		return ep, nil // the system roots may well trust it
	}
	u, err := commonConfigURL()
	if err != nil {
		return ep, err
	}
	if u == "" {
		return ep, fmt.Errorf("cannot find the Toolforge API: no --api-url or $%s, %w, and no api_gateway url in %s", EnvAPIURL, perr, commonPath())
	}
	ep.URL = u
	return ep, nil
}

func commonPath() string {
	if p := os.Getenv(EnvCommonConfig); p != "" {
		return p
	}
	return DefaultCommonPath
}

// commonConfigURL reads api_gateway.url from the bastion's common.yaml;
// a missing file is no error.
func commonConfigURL() (string, error) {
	data, err := os.ReadFile(commonPath())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var cfg struct {
		APIGateway struct {
			URL string `json:"url"`
		} `json:"api_gateway"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("parse %s: %w", commonPath(), err)
	}
	return cfg.APIGateway.URL, nil
}

// publishedAPI reads the API's ConfigMap with the tool's own credentials.
func publishedAPI(tool *Tool) (apiEndpoint, error) {
	kube, err := tool.Kube()
	if err != nil {
		return apiEndpoint{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cm, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		return apiEndpoint{}, fmt.Errorf("reading ConfigMap %s/%s failed: %w", tenancy.PlatformNamespace, tenancy.APIConfigMap, err)
	}
	ep := apiEndpoint{URL: cm.Data["url"]}
	if ca := cm.Data["ca.crt"]; ca != "" {
		ep.CA = []byte(ca)
	}
	if ep.URL == "" {
		return ep, fmt.Errorf("ConfigMap %s/%s has no url", tenancy.PlatformNamespace, tenancy.APIConfigMap)
	}
	return ep, nil
}

// newAPIClient is a client for the current tool.
func newAPIClient(s *IOStreams, f *apiFlags) (*apiClient, error) {
	tool, err := CurrentTool()
	if err != nil {
		return nil, err
	}
	ep, err := discoverAPI(f, func() (apiEndpoint, error) { return publishedAPI(tool) })
	if err != nil {
		return nil, err
	}
	return newAPIClientAt(s, tool, ep)
}

// newClusterAPIClient is a client for the API of tool's cluster (its
// context's), found from that cluster alone: a migration talks to two
// clusters, and a URL from a flag, the environment or common.yaml would
// name one API for both.
func newClusterAPIClient(s *IOStreams, tool *Tool) (*apiClient, error) {
	ep, err := publishedAPI(tool)
	if err != nil {
		return nil, fmt.Errorf("cannot find the Toolforge API of context %q: %w", tool.Context, err)
	}
	return newAPIClientAt(s, tool, ep)
}

func newAPIClientAt(s *IOStreams, tool *Tool, ep apiEndpoint) (*apiClient, error) {
	cert, err := tool.Certificate()
	if err != nil {
		return nil, fmt.Errorf("load the tool's certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if ep.CA != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.CA) {
			return nil, fmt.Errorf("the API's CA bundle holds no PEM certificates")
		}
		cfg.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg
	return &apiClient{
		base: strings.TrimSuffix(ep.URL, "/"),
		tool: tool,
		http: &http.Client{Transport: transport},
		s:    s,
	}, nil
}

// jobsPath and envvarsPath are the tool's API paths.
func (c *apiClient) jobsPath(rest string) string    { return "/jobs/v1/tool/" + c.tool.Name + rest }
func (c *apiClient) envvarsPath(rest string) string { return "/envvars/v1/tool/" + c.tool.Name + rest }

// apiError is a refusal from the API, with its messages.
type apiError struct {
	Status   int
	Messages route.Messages
}

func (e *apiError) Error() string {
	if len(e.Messages.Error) > 0 {
		return strings.Join(e.Messages.Error, "; ")
	}
	return fmt.Sprintf("the API answered %d %s", e.Status, http.StatusText(e.Status))
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// request sends in (JSON) and returns the response; a non-2xx answer is
// an *apiError.
func (c *apiClient) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call the Toolforge API at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	ae := &apiError{Status: resp.StatusCode}
	var env route.Envelope
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env) == nil {
		ae.Messages = env.Messages
	}
	return nil, ae
}

// call does a JSON request, decodes the answer into out (when not nil)
// and shows the API's info and warning messages on stderr.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	return c.callWithMessages(ctx, method, path, in, out, true)
}

// callWithMessages is call, showing the API's info messages only when
// info is set: a command that reports the outcome itself would say it
// twice. Warnings are always shown.
func (c *apiClient) callWithMessages(ctx context.Context, method, path string, in, out any, info bool) error {
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the API's answer: %w", err)
	}
	var env route.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("the API's answer is not JSON: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode the API's answer: %w", err)
		}
	}
	c.showMessages(env.Messages, info)
	return nil
}

func (c *apiClient) showMessages(m route.Messages, info bool) {
	if info {
		for _, msg := range m.Info {
			fmt.Fprintln(c.s.ErrOut, msg)
		}
	}
	for _, msg := range m.Warning {
		fmt.Fprintf(c.s.ErrOut, "warning: %s\n", msg)
	}
}
