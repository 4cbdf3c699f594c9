// Package nodenet wires a devcluster's real nodes to the host: one Linux
// bridge per cluster on the host, one network namespace per node joined to
// it by a veth pair, and routes to every node's pod range. Nothing else on
// the host changes, so deleting the bridge (and the namespaces dying with
// their nodes) undoes it all.
package nodenet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Address ranges. Clusters side by side each take one slot: a /24 for their
// nodes and a /16 for their pods, so the host can route to every cluster's
// pods at once. Services live only inside the nodes (kube-proxy's rules are
// per node namespace), so every cluster uses the same service range.
const (
	slots       = 100
	ServiceCIDR = "10.96.0.0/12"
	// DNSServiceIP is the ClusterIP of kube-dns.
	DNSServiceIP = "10.96.0.10"
	// APIServiceIP is the ClusterIP of the kubernetes Service.
	APIServiceIP = "10.96.0.1"
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain = "cluster.local"
)

// Plan is a cluster's network: chosen once, kept in the cluster directory
// so that a restarted cluster gets the same addresses (nodes' pod ranges
// are stored in etcd).
type Plan struct {
	// Slot picks the cluster's ranges: nodes in 172.30.<slot>.0/24, pods in
	// 10.<100+slot>.0.0/16.
	Slot int `json:"slot"`
	// Dir is the cluster directory, recorded on the bridge (as its alias)
	// so a bridge is never taken for another cluster's.
	Dir string `json:"dir"`
}

// Bridge is the host bridge's name.
func (p Plan) Bridge() string { return fmt.Sprintf("devcl%d", p.Slot) }

// HostVeth is the host end of node i's veth pair (i from 1).
func (p Plan) HostVeth(i int) string { return fmt.Sprintf("devcl%dn%d", p.Slot, i) }

// Gateway is the bridge's address: the nodes' default route, and where the
// supervisor's services (API forwarder, registry, DNS) listen for them.
func (p Plan) Gateway() net.IP { return net.IPv4(172, 30, byte(p.Slot), 1).To4() }

// NodeSubnet is the nodes' /24.
func (p Plan) NodeSubnet() *net.IPNet {
	return &net.IPNet{IP: net.IPv4(172, 30, byte(p.Slot), 0).To4(), Mask: net.CIDRMask(24, 32)}
}

// NodeIP is node i's address.
func (p Plan) NodeIP(i int) net.IP { return net.IPv4(172, 30, byte(p.Slot), byte(10+i)).To4() }

// PodCIDR is the whole cluster's pod range.
func (p Plan) PodCIDR() *net.IPNet {
	return &net.IPNet{IP: net.IPv4(10, byte(100+p.Slot), 0, 0).To4(), Mask: net.CIDRMask(16, 32)}
}

// NodePodCIDR is node i's share of the pod range.
func (p Plan) NodePodCIDR(i int) *net.IPNet {
	return &net.IPNet{IP: net.IPv4(10, byte(100+p.Slot), byte(i), 0).To4(), Mask: net.CIDRMask(24, 32)}
}

// MaxNodes is how many real nodes a plan has addresses for.
const MaxNodes = 200

func planFile(dir string) string { return filepath.Join(dir, "network.json") }

// Load returns the plan recorded in dir, if any.
func Load(dir string) (Plan, bool, error) {
	data, err := os.ReadFile(planFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return Plan{}, false, nil
	}
	if err != nil {
		return Plan{}, false, err
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return Plan{}, false, fmt.Errorf("parse %s: %w", planFile(dir), err)
	}
	return p, true, nil
}

// Choose returns dir's plan: the recorded one when its slot is still free
// (or already ours), else the first free slot from one derived from dir.
// A slot is free when no bridge of another cluster holds it and no host
// address or route overlaps its ranges.
func Choose(dir string) (Plan, error) {
	recorded, ok, err := Load(dir)
	if err != nil {
		return Plan{}, err
	}
	used, err := hostNetworks()
	if err != nil {
		return Plan{}, err
	}
	if ok {
		recorded.Dir = dir
		if free, _ := recorded.free(used); free {
			return recorded, save(dir, recorded)
		}
	}
	sum := sha256.Sum256([]byte(dir))
	start := int(binary.BigEndian.Uint32(sum[:4]) % slots)
	var reasons []string
	for n := 0; n < slots; n++ {
		p := Plan{Slot: (start + n) % slots, Dir: dir}
		free, why := p.free(used)
		if free {
			return p, save(dir, p)
		}
		if len(reasons) < 3 {
			reasons = append(reasons, why)
		}
	}
	return Plan{}, fmt.Errorf("no free address range for the nodes' network (%v …)", reasons)
}

func save(dir string, p Plan) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := planFile(dir) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, planFile(dir))
}

// free says whether the plan's ranges are unused on the host, or used only
// by this cluster's own bridge (a restart).
func (p Plan) free(used []hostNet) (bool, string) {
	for _, u := range used {
		if u.link == p.Bridge() && u.alias == p.Dir {
			continue
		}
		if u.link == p.Bridge() {
			return false, fmt.Sprintf("bridge %s belongs to %s", p.Bridge(), u.alias)
		}
		for _, r := range []*net.IPNet{p.NodeSubnet(), p.PodCIDR()} {
			if overlaps(r, u.net) {
				return false, fmt.Sprintf("%s overlaps %s on %s", r, u.net, u.link)
			}
		}
	}
	return true, ""
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// Orphans are the plans of clusters whose bridge is still on the host but
// whose directory is gone (deleted while the cluster ran, or after it was
// killed): nothing can stop them any more, so a start cleans them up.
func Orphans() ([]Plan, error) {
	links, err := hostNetworks()
	if err != nil {
		return nil, err
	}
	var out []Plan
	for _, l := range links {
		var slot int
		if l.alias == "" || !l.net.IP.IsUnspecified() {
			continue // only the bridges themselves (listed with no address)
		}
		if _, err := fmt.Sscanf(l.link, "devcl%d", &slot); err != nil || fmt.Sprintf("devcl%d", slot) != l.link {
			continue
		}
		if _, err := os.Stat(l.alias); errors.Is(err, os.ErrNotExist) {
			out = append(out, Plan{Slot: slot, Dir: l.alias})
		}
	}
	return out, nil
}
