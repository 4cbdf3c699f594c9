// Package cgroups makes and removes the cgroup a devcluster node's kubelet
// puts its pods under, in every hierarchy the host mounts (cgroup v1
// controllers, named v1 hierarchies and the v2 unified one): kubelet
// refuses a cgroup root that does not exist, and leaves its kubepods
// behind when it stops.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	Mount string // e.g. /sys/fs/cgroup/memory
	V2    bool
	// Controllers of a v1 hierarchy (e.g. cpu,cpuacct), from its options.
	Controllers []string
}

// Hierarchies lists the cgroup hierarchies mounted on this host.
func Hierarchies() ([]Hierarchy, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	seen := map[string]bool{}
	var out []Hierarchy
	for _, m := range mounts {
		if seen[m.Mountpoint] {
			continue
		}
		seen[m.Mountpoint] = true
		h := Hierarchy{Mount: m.Mountpoint, V2: m.FSType == "cgroup2"}
		for _, o := range strings.Split(m.VFSOptions, ",") {
			switch o {
			case "rw", "ro", "relatime", "nosuid", "nodev", "noexec", "nsdelegate", "memory_recursiveprot":
			default:
				h.Controllers = append(h.Controllers, o)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// Required says which controllers kubelet needs and whether this host has
// them; it returns an error naming what is missing.
func Required() error {
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	v2 := false
	for _, h := range hs {
		if h.V2 {
			v2 = true
			if data, err := os.ReadFile(filepath.Join(h.Mount, "cgroup.controllers")); err == nil {
				for _, c := range strings.Fields(string(data)) {
					have[c] = true
				}
			}
			continue
		}
		for _, c := range h.Controllers {
			have[c] = true
		}
	}
	var missing []string
	for _, c := range []string{"cpu", "cpuset", "memory", "pids"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(hs) == 0 {
		return errors.New("no cgroup file system is mounted (kubelet needs cgroup v1 or v2 at /sys/fs/cgroup)")
	}
	if len(missing) > 0 {
		kind := "cgroup v1"
		if v2 && !have["cpu"] && !have["memory"] {
			kind = "cgroup v2"
		}
		return fmt.Errorf("the %s hierarchy lacks the %s controller(s) kubelet needs; mount them (e.g. boot with cgroup_enable=memory) or run on a host that has them", kind, strings.Join(missing, ", "))
	}
	return nil
}

// Ensure creates path (absolute, e.g. /devcluster-12/node-1) in every
// hierarchy. A new v1 cpuset cgroup starts with no CPUs or memory nodes,
// which makes it unusable: copy them from the parent, as the kernel's
// cgroup.clone_children would.
func Ensure(path string) error {
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := h.Mount
		for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			if !h.V2 && contains(h.Controllers, "cpuset") {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if err := inherit(parent, dir, f); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func inherit(parent, dir, file string) error {
	cur, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
	}
	if strings.TrimSpace(string(cur)) != "" {
		return nil
	}
	val, err := os.ReadFile(filepath.Join(parent, file))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(parent, file), err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), val, 0o644); err != nil {
		return fmt.Errorf("set %s: %w", filepath.Join(dir, file), err)
	}
	return nil
}

// Remove kills whatever still runs under path and removes path and every
// cgroup below it, in every hierarchy. Removing what is not there is not an
// error.
func Remove(path string) error {
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	var errs []error
	for _, h := range hs {
		root := filepath.Join(h.Mount, path)
		for {
			dirs := below(root)
			if len(dirs) == 0 {
				break
			}
			killAll(dirs)
			left := 0
			// Deepest first: a cgroup with children cannot be removed.
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					left++
				}
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("cgroup %s: %d cgroups could not be removed", root, left))
				break
			}
			time.Sleep(50 * time.Millisecond) // processes just killed take a moment to leave
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the cgroups under path that still exist.
func Leftovers(path string) []string {
	hs, _ := Hierarchies()
	var out []string
	for _, h := range hs {
		out = append(out, below(filepath.Join(h.Mount, path))...)
	}
	return out
}

// below lists root and every directory under it, parents before children.
func below(root string) []string {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.SliceStable(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") < strings.Count(dirs[j], "/") })
	return dirs
}

func killAll(dirs []string) {
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
