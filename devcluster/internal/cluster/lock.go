package cluster

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes the cluster directory's exclusive lock without waiting. ok is
// false when another process (a running supervisor) holds it.
func lockDir(l Layout) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(l.LockFile(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", l.LockFile(), err)
	}
	return f, true, nil
}

// running reports whether a supervisor holds the directory.
func running(l Layout) bool {
	if _, err := os.Stat(l.LockFile()); err != nil {
		return false
	}
	f, ok, err := lockDir(l)
	if err != nil {
		return false
	}
	if ok {
		f.Close()
	}
	return !ok
}

// Lock takes the lock of a cluster directory for a supervisor run in the
// foreground.
func Lock(dir string) (*os.File, error) {
	l := Layout{Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, ok, err := lockDir(l)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("devcluster in %s is already running", dir)
	}
	return f, nil
}
