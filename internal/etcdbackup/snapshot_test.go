package etcdbackup

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSnapshotNamesSortByTime(t *testing.T) {
	a := Name(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	b := Name(time.Date(2026, 1, 2, 3, 4, 5, 7e6, time.FixedZone("x", 3600)).Add(time.Hour))
	if a != "etcd-20260102T030405.006Z.db" {
		t.Errorf("name %q", a)
	}
	if !(a < b) {
		t.Errorf("%q sorts after %q", a, b)
	}
}

func TestRetentionKeepsTheNewestAndTouchesNothingElse(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := 0; i < 5; i++ {
		n := Name(time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC))
		names = append(names, n)
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, other := range []string{"notes.txt", ".partial-123.db", "etcd-manual-copy.bak"} {
		if err := os.WriteFile(filepath.Join(dir, other), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Prune(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, names[0]), filepath.Join(dir, names[1]), filepath.Join(dir, names[2])}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	left, _ := os.ReadDir(dir)
	var got []string
	for _, e := range left {
		got = append(got, e.Name())
	}
	wantLeft := []string{".partial-123.db", names[3], names[4], "etcd-manual-copy.bak", "notes.txt"}
	if !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("left %v, want %v", got, wantLeft)
	}
	if _, err := Prune(dir, 0); err == nil {
		t.Error("keeping no snapshot was accepted")
	}
}

func TestVerifyRefusesWhatIsNotAWholeSnapshot(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	page := make([]byte, 4096)
	sum := sha256.Sum256(page)
	badSum := sha256.Sum256([]byte("other"))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"a file without etcd's hash is refused", write("nohash", page), "does not end with etcd's sha256"},
		{"a truncated snapshot is refused", write("truncated", append(append([]byte{}, page...), sum[:20]...)), "does not end with etcd's sha256"},
		{"a snapshot whose hash does not match is refused", write("corrupt", append(append([]byte{}, page...), badSum[:]...)), "is corrupt: its sha256 is"},
		{"a hashed file that is not a database is refused", write("notdb", append(append([]byte{}, page...), sum[:]...)), "open database"},
		{"a missing file is refused", filepath.Join(dir, "missing"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
