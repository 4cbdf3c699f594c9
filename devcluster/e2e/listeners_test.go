package e2e

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// listener is a socket a cluster process listens on.
type listener struct {
	proto string // tcp or udp
	ip    net.IP
	port  int
	comm  string // the process's name
	netns string // the network namespace (host, or a node's)
}

func (l listener) String() string {
	return fmt.Sprintf("%s %s (%s)", l.proto, net.JoinHostPort(l.ip.String(), strconv.Itoa(l.port)), l.comm)
}

// state is what devcluster records about the shared cluster.
type state struct {
	SupervisorPID       int    `json:"supervisorPID"`
	APIURL              string `json:"apiURL"`
	EtcdURL             string `json:"etcdURL"`
	EtcdCACert          string `json:"etcdCACert"`
	EtcdCert            string `json:"etcdCert"`
	EtcdKey             string `json:"etcdKey"`
	Registry            string `json:"registry"`
	RegistryGateway     string `json:"registryGateway"`
	RegistryCredentials string `json:"registryCredentials"`
	Git                 string `json:"git"`
	Egress              string `json:"egress"`
	Network             struct {
		Gateway string `json:"gateway"`
	} `json:"network"`
}

func readState(t *testing.T, dir string) state {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// clusterListeners lists every TCP socket in LISTEN state and every UDP
// socket bound by a process of the cluster (the supervisor and everything
// below it, nodes' processes included), read from /proc: what the cluster
// really serves, whatever its code or docs say.
func clusterListeners(t *testing.T, supervisor int) []listener {
	t.Helper()
	hostNS, err := os.Readlink("/proc/self/ns/net") // the test runs on the host
	if err != nil {
		t.Fatal(err)
	}
	// socket inode -> process, and one process per network namespace to
	// read that namespace's socket tables through.
	owner := map[string]string{}
	nsOf := map[string]string{}
	reader := map[string]int{}
	nodeNS := map[string]bool{}
	for _, pid := range descendants(t, supervisor) {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(target, "socket:[") {
				inode := strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
				owner[inode] = strings.TrimSpace(string(comm))
				nsOf[inode] = ns
			}
		}
		if _, ok := reader[ns]; !ok {
			reader[ns] = pid
		}
		if strings.TrimSpace(string(comm)) == "containerd" {
			nodeNS[ns] = true
		}
	}
	var out []listener
	for ns, pid := range reader {
		// The host's and the nodes' own (containerd's) namespaces; pods'
		// are theirs.
		name := ""
		switch {
		case ns == hostNS:
			name = "host"
		case nodeNS[ns]:
			name = "node"
		default:
			continue
		}
		for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
			for _, s := range socketTable(t, fmt.Sprintf("/proc/%d/net/%s", pid, table)) {
				listening := s.state == "0A" || strings.HasPrefix(table, "udp") && s.state == "07"
				if comm, ok := owner[s.inode]; ok && listening && nsOf[s.inode] == ns {
					out = append(out, listener{proto: strings.TrimSuffix(table, "6"), ip: s.ip, port: s.port, comm: comm, netns: name})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

type socketRow struct {
	ip    net.IP
	port  int
	state string
	inode string
}

// socketTable parses /proc/net/{tcp,udp}[6].
func socketTable(t *testing.T, path string) []socketRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []socketRow
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		addr, portHex, _ := strings.Cut(f[1], ":")
		raw, err := hex.DecodeString(addr)
		if err != nil {
			t.Fatalf("%s: %q", path, f[1])
		}
		// The kernel prints each 32-bit word in host (little-endian) order.
		for i := 0; i+4 <= len(raw); i += 4 {
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
		port, _ := strconv.ParseInt(portHex, 16, 32)
		rows = append(rows, socketRow{ip: net.IP(raw), port: int(port), state: f[3], inode: f[9]})
	}
	return rows
}

// descendants lists pid and every process below it.
func descendants(t *testing.T, root int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
