package nodenet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

type hostNet struct {
	link, alias string
	net         *net.IPNet
}

// hostNetworks lists the host's addresses and routes with the links they
// are on, and every devcluster bridge (addressed or not).
func hostNetworks() ([]hostNet, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list network links: %w", err)
	}
	byIndex := map[int]netlink.Link{}
	var out []hostNet
	for _, l := range links {
		a := l.Attrs()
		byIndex[a.Index] = l
		if strings.HasPrefix(a.Name, "devcl") {
			out = append(out, hostNet{link: a.Name, alias: a.Alias, net: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(32, 32)}})
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			out = append(out, hostNet{link: a.Name, alias: a.Alias, net: ad.IPNet})
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			continue // the default route overlaps everything by design
		}
		h := hostNet{net: r.Dst}
		if l, ok := byIndex[r.LinkIndex]; ok {
			h.link, h.alias = l.Attrs().Name, l.Attrs().Alias
		}
		out = append(out, h)
	}
	return out, nil
}

// SetupHost creates (or finds) the cluster's bridge with the gateway
// address. Bridged traffic between nodes skips the host's iptables, so a
// host firewall does not decide what nodes may say to each other.
func SetupHost(p Plan) error {
	br, err := netlink.LinkByName(p.Bridge())
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		attrs := netlink.NewLinkAttrs()
		attrs.Name = p.Bridge()
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("create bridge %s: %w", p.Bridge(), err)
		}
		if br, err = netlink.LinkByName(p.Bridge()); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("find bridge %s: %w", p.Bridge(), err)
	}
	if err := netlink.LinkSetAlias(br, p.Dir); err != nil {
		return fmt.Errorf("label bridge %s: %w", p.Bridge(), err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Gateway(), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrReplace(br, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", p.Bridge(), err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", p.Bridge(), err)
	}
	nf := filepath.Join("/sys/class/net", p.Bridge(), "bridge/nf_call_iptables")
	if err := os.WriteFile(nf, []byte("0"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bridge %s: %w", p.Bridge(), err)
	}
	return nil
}

// TeardownHost deletes the bridge, which takes its routes and every veth
// still attached with it. Deleting a bridge that is gone is not an error.
func TeardownHost(p Plan) error {
	for _, name := range []string{p.Bridge()} {
		l, err := netlink.LinkByName(name)
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		if l.Attrs().Alias != "" && l.Attrs().Alias != p.Dir {
			return fmt.Errorf("bridge %s belongs to %s, not %s", name, l.Attrs().Alias, p.Dir)
		}
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("devcl%dn", p.Slot)
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			_ = netlink.LinkDel(l) // a node's veth whose namespace is still dying
		}
	}
	return nil
}

// Leftovers lists what of the plan's network still exists on the host.
func Leftovers(p Plan) []string {
	var out []string
	links, _ := netlink.LinkList()
	prefix := fmt.Sprintf("devcl%d", p.Slot)
	for _, l := range links {
		n := l.Attrs().Name
		if n == prefix || strings.HasPrefix(n, prefix+"n") {
			out = append(out, "link "+n)
		}
	}
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() && (overlaps(r.Dst, p.PodCIDR()) || overlaps(r.Dst, p.NodeSubnet())) {
			out = append(out, "route "+r.Dst.String())
		}
	}
	return out
}

// AttachNode joins node i (the network namespace of process pid) to the
// cluster: a veth pair from the bridge to the node's eth0, the node's
// address and default route, routes to the other nodes' pods (nodes talk
// on the bridge directly, so the host never forwards), and a host route to
// the node's pods. (The node's sandbox turns forwarding on inside.)
func AttachNode(p Plan, i, nodes, pid int) error {
	br, err := netlink.LinkByName(p.Bridge())
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", p.Bridge(), err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("node %d network namespace: %w", i, err)
	}
	defer ns.Close()
	hostName := p.HostVeth(i)
	if old, err := netlink.LinkByName(hostName); err == nil {
		_ = netlink.LinkDel(old) // from a node that was restarted
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	attrs.MasterIndex = br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostName, err)
	}
	host, err := netlink.LinkByName(hostName)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring up %s: %w", hostName, err)
	}
	// A handle whose socket lives in the node's namespace: no thread of
	// this process ever switches namespaces (a thread that did, and then
	// died, would take the children it forked with it: Pdeathsig is per
	// thread).
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("node %d netlink: %w", i, err)
	}
	defer h.Close()
	if err := configureNode(h, p, i, nodes); err != nil {
		return fmt.Errorf("configure node %d network: %w", i, err)
	}
	route := &netlink.Route{Dst: p.NodePodCIDR(i), Gw: p.NodeIP(i), LinkIndex: br.Attrs().Index}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s via node %d: %w", p.NodePodCIDR(i), i, err)
	}
	return nil
}

func configureNode(h *netlink.Handle, p Plan, i, nodes int) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.NodeIP(i), Mask: net.CIDRMask(24, 32)}}
	if err := h.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return err
	}
	if err := h.RouteReplace(&netlink.Route{Gw: p.Gateway(), LinkIndex: eth.Attrs().Index}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	for j := 1; j <= nodes; j++ {
		if j == i {
			continue
		}
		r := &netlink.Route{Dst: p.NodePodCIDR(j), Gw: p.NodeIP(j), LinkIndex: eth.Attrs().Index}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("route to node %d's pods: %w", j, err)
		}
	}
	return nil
}
