package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// staticFlag makes the launcher serve a directory over HTTP: a static
// site's web process.
const staticFlag = "--serve-static"

// DefaultPort is where a web process listens when PORT is not set (a web
// service's port).
const DefaultPort = "8000"

// Launch is the image's launcher: `launcher` runs the web process,
// `launcher TYPE` a process type of the app's Procfile, and `launcher CMD
// [ARG...]` a command, all in the app's directory and environment. A
// single argument that is no process type is a shell command line.
func Launch(args []string) error {
	if len(args) >= 2 && args[0] == staticFlag {
		return serveStatic(args[1])
	}
	procs := map[string]string{}
	if data, err := os.ReadFile(ProcessesFile); err == nil {
		if err := json.Unmarshal(data, &procs); err != nil {
			return fmt.Errorf("%s: %w", ProcessesFile, err)
		}
	}
	if len(args) == 0 {
		args = []string{"web"}
	}
	if os.Getenv("PORT") == "" {
		_ = os.Setenv("PORT", DefaultPort)
	}
	if _, err := os.Stat(AppDir); err == nil {
		if wd, _ := os.Getwd(); wd == "/" {
			_ = os.Chdir(AppDir)
		}
	}
	var argv []string
	switch cmd, ok := procs[args[0]]; {
	case len(args) == 1 && ok:
		argv = []string{"/bin/sh", "-c", "exec " + cmd}
	case len(args) == 1 && args[0] == "web":
		return errors.New("the app has no web process: add a Procfile with a line `web: <command>` (listening on $PORT)")
	case len(args) == 1 && strings.ContainsAny(args[0], " \t|;&<>$`'\""):
		argv = []string{"/bin/sh", "-c", args[0]}
	default:
		path, err := exec.LookPath(args[0])
		if err != nil {
			return fmt.Errorf("%s is neither a process type of the app (%s) nor a command: %w", args[0], processNames(procs), err)
		}
		argv = append([]string{path}, args[1:]...)
	}
	return syscall.Exec(argv[0], argv, os.Environ()) //nolint:gosec // G204: running the app's command is the launcher's purpose
}

func processNames(procs map[string]string) string {
	if len(procs) == 0 {
		return "it has none"
	}
	var names []string
	for n := range procs {
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// serveStatic serves dir on $PORT until SIGTERM.
func serveStatic(dir string) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = DefaultPort
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("serving %s on port %s\n", dir, port)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
