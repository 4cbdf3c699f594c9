// Command kubectl-sudo is the `kubectl sudo` plugin: `kubectl sudo get pods
// -A` runs kubectl impersonating a cluster admin. Only admins' credentials
// may impersonate.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/toolforge-go/toolforge/internal/sudo"
)

func main() {
	args, err := sudo.Args(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(2)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: kubectl not found on PATH: %v\n", err)
		os.Exit(1)
	}
	// Become kubectl: its exit code, signals and terminal are the user's.
	err = syscall.Exec(kubectl, append([]string{"kubectl"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "error: run kubectl: %v\n", err)
	os.Exit(1)
}
