package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostState is what a cluster could leave behind on the host.
type hostState struct {
	mounts  map[string]bool // mount points
	netns   map[string]bool // named network namespaces (/run/netns)
	chains  map[string]bool // iptables chains, table/chain
	cgroups map[string]bool // devcluster cgroups
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	s := hostState{mounts: map[string]bool{}, netns: map[string]bool{}, chains: map[string]bool{}, cgroups: map[string]bool{}}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			s.mounts[f[4]] = true
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		s.netns[e.Name()] = true
	}
	for _, table := range []string{"filter", "nat", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save -t %s: %v", table, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, ":") {
				s.chains[table+"/"+strings.Fields(line[1:])[0]] = true
			}
		}
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/devcluster-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/devcluster-*")
	for _, m := range append(matches, more...) {
		s.cgroups[m] = true
	}
	return s
}

// assertHostClean fails for whatever the stopped cluster in dir (network
// slot slot) left on the host that was not there before it started.
func assertHostClean(t *testing.T, before hostState, dir string, slot int) {
	t.Helper()
	after := snapshotHost(t)
	var left []string
	for m := range after.mounts {
		if !before.mounts[m] || strings.HasPrefix(m, dir) {
			left = append(left, "mount "+m)
		}
	}
	for n := range after.netns {
		if !before.netns[n] {
			left = append(left, "network namespace "+n)
		}
	}
	for c := range after.chains {
		// Nodes keep their rules in their own namespaces: the host's
		// tables never get Kubernetes chains, from any cluster.
		name := c[strings.Index(c, "/")+1:]
		if !before.chains[c] || strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-") {
			left = append(left, "iptables chain "+c)
		}
	}
	for cg := range after.cgroups {
		if strings.Contains(cg, fmt.Sprintf("devcluster-%d", slot)) {
			left = append(left, "cgroup "+cg)
		}
	}
	out, _ := exec.Command("ip", "-o", "link").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			name := strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")
			if name == fmt.Sprintf("devcl%d", slot) || strings.HasPrefix(name, fmt.Sprintf("devcl%dn", slot)) {
				left = append(left, "link "+name)
			}
		}
	}
	routes, _ := exec.Command("ip", "-o", "route").Output()
	for _, line := range strings.Split(string(routes), "\n") {
		if strings.HasPrefix(line, fmt.Sprintf("10.%d.", 100+slot)) || strings.HasPrefix(line, fmt.Sprintf("172.30.%d.", slot)) {
			left = append(left, "route "+line)
		}
	}
	if len(left) > 0 {
		t.Fatalf("the stopped cluster left on the host:\n%s", strings.Join(left, "\n"))
	}
}

// networkSlot reads the network plan a cluster recorded.
func networkSlot(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var plan struct{ Slot int }
	if err := json.Unmarshal(data, &plan); err != nil {
		t.Fatal(err)
	}
	return plan.Slot
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", name).Run() == nil
}
