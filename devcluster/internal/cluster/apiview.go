package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"k8s.io/client-go/rest"
)

// apiView is a node's log collector's view of the API server: the reads
// vlagent's Kubernetes collector makes, and nothing else, answered for one
// node. vlagent outside a pod (its local mode, for test clusters) takes
// the first Node of the list as its own; in this view the list holds its
// node only, so every node's collector reads its own pods. The view
// listens on loopback (no pod reaches it) and reads with the supervisor's
// credentials.
type apiView struct {
	srv  *http.Server
	addr string
}

func startAPIView(cfg *rest.Config, node string) (*apiView, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	upstream, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = upstream.Host
		},
		Transport: rt,
		// Watches stream.
		FlushInterval: -1,
	}
	client := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "read only", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/api/v1/nodes":
			nodeList(w, r, client, upstream, node)
		case "/api/v1/nodes/" + node, "/api/v1/namespaces":
			proxy.ServeHTTP(w, r)
		case "/api/v1/pods":
			if r.URL.Query().Get("fieldSelector") != "spec.nodeName="+node {
				http.Error(w, "only this node's pods", http.StatusForbidden)
				return
			}
			proxy.ServeHTTP(w, r)
		default:
			http.Error(w, "not in the collector's view", http.StatusForbidden)
		}
	}
	ln, err := net.Listen("tcp", hostPort(0))
	if err != nil {
		return nil, err
	}
	v := &apiView{srv: &http.Server{Handler: http.HandlerFunc(h), ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String()}
	go func() { _ = v.srv.Serve(ln) }()
	return v, nil
}

// nodeList answers a list of Nodes with the view's node only.
func nodeList(w http.ResponseWriter, r *http.Request, c *http.Client, upstream *url.URL, node string) {
	u := *upstream
	u.Path = "/api/v1/nodes/" + node
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := c.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("node %s: %s %s", node, resp.Status, body), http.StatusBadGateway)
		return
	}
	list := map[string]any{"kind": "NodeList", "apiVersion": "v1", "metadata": map[string]any{}, "items": []json.RawMessage{body}}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (v *apiView) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.srv.Shutdown(ctx)
}
