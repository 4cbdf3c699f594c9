package images

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPruneRemovesOnlyLayersNoImageUses(t *testing.T) {
	b := NewBuilder(t.TempDir())
	runner, err := b.ensure(context.Background(), runnerLayer(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(b.Dir, "images", "layers", cacheKey("a recipe that changed"))
	if err := os.MkdirAll(filepath.Join(stale, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "layer.tar.gz"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(b.Dir, "images", "layers", "tmp-"+cacheKey("a killed build")+"-123")
	if err := os.MkdirAll(killed, 0o755); err != nil {
		t.Fatal(err)
	}
	freed, err := b.Prune()
	if err != nil {
		t.Fatal(err)
	}
	if freed != 1000 {
		t.Errorf("freed %d bytes, want 1000", freed)
	}
	for _, gone := range []string{stale, killed} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there", gone)
		}
	}
	if _, ok, _ := b.store().lookup(runnerLayer().key); !ok {
		t.Errorf("the runner layer %s was pruned", runner.dir)
	}
}
