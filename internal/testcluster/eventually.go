package testcluster

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns nil, failing the test with cond's
// last error after timeout: the cluster converges asynchronously, so tests
// wait for the state they expect rather than for a fixed time.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
