package homefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The attacker is the tool: it owns its home and plants things where the
// platform (root) will write. The victim is a file the tool must not get
// overwritten, chowned or read through the platform.

const toolUID = 51234

func setup(t *testing.T) (home *Dir, homePath, victim string) {
	t.Helper()
	base := t.TempDir()
	homePath = filepath.Join(base, "home")
	victim = filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("secret of someone else"), 0o600); err != nil {
		t.Fatal(err)
	}
	home, err := EnsureHome(homePath, Owner{UID: toolUID, GID: toolUID}, 0o750)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	return home, homePath, victim
}

func assertVictimUntouched(t *testing.T, victim string) {
	t.Helper()
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "secret of someone else" {
		t.Fatalf("victim overwritten: %q", data)
	}
	st, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) == toolUID {
		t.Fatal("victim chowned to the tool")
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("victim mode changed to %v", st.Mode().Perm())
	}
}

func TestAToolCannotRedirectWritesWithSymlinks(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, homePath, victim string)
	}{
		{"the config file is a symlink to another file", func(t *testing.T, homePath, victim string) {
			mustMkdir(t, filepath.Join(homePath, ".kube"))
			mustSymlink(t, victim, filepath.Join(homePath, ".kube", "config"))
		}},
		{"the config directory is a symlink to another directory", func(t *testing.T, homePath, victim string) {
			mustSymlink(t, filepath.Dir(victim), filepath.Join(homePath, ".kube"))
			mustSymlink(t, victim, filepath.Join(filepath.Dir(victim), "config-link-unused"))
		}},
		{"the config file is a hard link to another file", func(t *testing.T, homePath, victim string) {
			mustMkdir(t, filepath.Join(homePath, ".kube"))
			if err := os.Link(victim, filepath.Join(homePath, ".kube", "config")); err != nil {
				t.Fatal(err)
			}
		}},
		{"the config directory is a regular file", func(t *testing.T, homePath, _ string) {
			if err := os.WriteFile(filepath.Join(homePath, ".kube"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home, homePath, victim := setup(t)
			tc.plant(t, homePath, victim)
			kube, err := home.Subdir(".kube", 0o700)
			if err != nil {
				t.Fatal(err)
			}
			defer kube.Close()
			if err := kube.Write("config", []byte("ours"), 0o600); err != nil {
				t.Fatal(err)
			}
			assertVictimUntouched(t, victim)
			// What the tool finds in its home is our file, a real one.
			path := filepath.Join(homePath, ".kube", "config")
			st, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v, want a regular 0600 file", path, st.Mode())
			}
			if got, _ := os.ReadFile(path); string(got) != "ours" {
				t.Fatalf("content %q", got)
			}
			if dst, _ := os.Lstat(filepath.Join(homePath, ".kube")); !dst.IsDir() {
				t.Fatal(".kube is not a real directory")
			}
			if os.Geteuid() == 0 {
				if uid := int(st.Sys().(*syscall.Stat_t).Uid); uid != toolUID {
					t.Fatalf("owner %d, want the tool's %d", uid, toolUID)
				}
			}
		})
	}
}

func TestReadRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, path, victim string)
	}{
		{"a symlink to another file (reading it would leak it)", func(t *testing.T, path, victim string) {
			mustSymlink(t, victim, path)
		}},
		{"a FIFO (reading it would hang the controller)", func(t *testing.T, path, _ string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a huge sparse file (reading it would exhaust memory)", func(t *testing.T, path, _ string) {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(10 << 30); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}},
		{"a directory", func(t *testing.T, path, _ string) { mustMkdir(t, path) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home, homePath, victim := setup(t)
			tc.plant(t, filepath.Join(homePath, "config"), victim)
			done := make(chan error, 1)
			go func() {
				data, _, err := home.Read("config")
				if bytes.Contains(data, []byte("secret")) {
					err = errors.New("read the victim's content")
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) {
					t.Fatalf("Read = %v, want ErrNotRegular", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Read hung")
			}
		})
	}
}

func TestPathsCannotEscapeTheDirectory(t *testing.T) {
	home, _, victim := setup(t)
	for _, name := range []string{"../victim", victim} {
		if _, _, err := home.Read(name); err == nil {
			t.Errorf("Read(%q) succeeded", name)
		}
		if err := home.Write(name, []byte("x"), 0o600); err == nil {
			t.Errorf("Write(%q) succeeded", name)
		}
	}
	assertVictimUntouched(t, victim)
}

func TestTemporariesOfACrashedWriterAreRemoved(t *testing.T) {
	home, homePath, _ := setup(t)
	leftover := filepath.Join(homePath, ".config"+tempMarker+"abc123")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := home.Write("config", []byte("whole"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := home.RemoveTemporaries(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(homePath)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "config" {
		t.Fatalf("home holds %v, want only config", names)
	}
}

func TestReadReportsModeOwnerAndLinks(t *testing.T) {
	home, homePath, _ := setup(t)
	if err := home.Write("key", []byte("k"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(homePath, "key"), filepath.Join(homePath, "key2")); err != nil {
		t.Fatal(err)
	}
	data, info, err := home.Read("key")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "k" || info.Mode != 0o400 || info.Links != 2 {
		t.Fatalf("got %q %+v", data, info)
	}
	if os.Geteuid() == 0 && info.UID != toolUID {
		t.Fatalf("uid %d, want %d", info.UID, toolUID)
	}
}

func mustMkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
