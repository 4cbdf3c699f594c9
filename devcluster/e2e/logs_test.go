package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A real node's pods' lines reach the cluster's log store, through the
// node's collector (vlagent), read with the node's own pods: in this
// cluster the simulated nodes' names sort before the real node's, and
// vlagent outside a pod takes the first Node listed as its own unless its
// API view lists only its node.
func TestARealNodesPodLinesReachTheLogStore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shared.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		LogsStore string `json:"logsStore"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.LogsStore, "http://127.0.0.1:") {
		t.Fatalf("the log store is at %q, want loopback", st.LogsStore)
	}
	realPod(t, "logs-test", "writer", `  restartPolicy: Never
  containers:
  - name: main
    image: `+pythonImage+`
    command: [sh, -c, "echo first-logs-line; echo second-logs-line >&2"]
`)
	podPhase(t, "logs-test", "writer", imageTimeout, corev1.PodSucceeded)
	eventually(t, time.Minute, func(ctx context.Context) error {
		lines, err := storeLines(ctx, st.LogsStore, `kubernetes.pod_namespace:="logs-test" kubernetes.pod_name:="writer"`)
		if err != nil {
			return err
		}
		var msgs []string
		for _, l := range lines {
			if l["kubernetes.pod_node_name"] != "node-1" {
				return fmt.Errorf("a line of node %q", l["kubernetes.pod_node_name"])
			}
			msgs = append(msgs, l["_msg"])
		}
		if strings.Join(msgs, ",") != "first-logs-line,second-logs-line" {
			return fmt.Errorf("the store has %q", msgs)
		}
		return nil
	})
}

func storeLines(ctx context.Context, store, query string) ([]map[string]string, error) {
	form := url.Values{"query": {query + " | sort by (_time)"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, store+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var out []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
