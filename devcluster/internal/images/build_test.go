package images_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
)

func TestACachedImageIsReadyAtOnceWithTheSameDigest(t *testing.T) {
	b := sharedBuilder(t)
	const repo = "toolforge-bookworm-sssd"
	first, err := build(t, b, repo).Digest()
	if err != nil {
		t.Fatal(err)
	}
	// Another builder: nothing is remembered in memory.
	again := images.NewBuilder(b.Dir)
	start := time.Now()
	img, err := again.Build(context.Background(), repo, tlog{t})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	second, _ := img.Digest()
	if second != first {
		t.Errorf("digest %s, then %s", first, second)
	}
	if took > time.Second {
		t.Errorf("a cached build took %s", took)
	}
	// Every blob matches its recorded digest and diff ID.
	if err := validate.Image(img); err != nil {
		t.Error(err)
	}
	st, err := again.Status(repo)
	if err != nil || !st.Cached || st.Digest != first || st.Size == 0 {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

// countingWriter counts the layers a builder says it builds.
type countingWriter struct {
	mu     sync.Mutex
	builds int
	t      *testing.T
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.builds += strings.Count(string(p), "images: building layer")
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestConcurrentBuildsOfAnImageBuildItOnce(t *testing.T) {
	requireBuildHost(t)
	dir := t.TempDir()
	// Two builders stand for two processes: they share only the directory
	// (and its file locks); each has two goroutines asking.
	builders := []*images.Builder{images.NewBuilder(dir), images.NewBuilder(dir)}
	progress := &countingWriter{t: t}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	digests := make([]v1.Hash, 4)
	var wg sync.WaitGroup
	for i := range digests {
		wg.Go(func() {
			img, err := builders[i%2].Build(ctx, images.PauseRepo, progress)
			if err != nil {
				t.Error(err)
				return
			}
			digests[i], _ = img.Digest()
		})
	}
	wg.Wait()
	if progress.builds != 1 {
		t.Errorf("%d builds, want 1", progress.builds)
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("digests differ: %v", digests)
		}
	}
	layers, _ := filepath.Glob(filepath.Join(dir, "images", "layers", "tmp-*"))
	if len(layers) > 0 {
		t.Errorf("temporary entries left: %v", layers)
	}
}

func TestACancelledBuildLeavesNoEntryAndNoMount(t *testing.T) {
	requireBuildHost(t)
	dir := t.TempDir()
	b := images.NewBuilder(dir)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	w := writerFunc(func(p []byte) {
		if strings.Contains(string(p), "building layer") {
			once.Do(func() { close(started) })
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := b.Build(ctx, "toolforge-bookworm-sssd", w)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("build ended before it started building: %v", err)
	}
	// Kill it once mmdebstrap is under way (its chroot mounted).
	log := filepath.Join(dir, "images", "logs", "bookworm-base.log")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if data, _ := os.ReadFile(log); strings.Contains(string(data), "I: running apt-get update") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mmdebstrap did not get going in a minute")
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled build succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "images", "layers"))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left in the cache: %s", e.Name())
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts left under %s:\n%s", dir, mounts)
	}
	if st, err := b.Status("toolforge-bookworm-sssd"); err != nil || st.Cached {
		t.Errorf("Status after a cancelled build = %+v, %v", st, err)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
