// Package testldap runs a real OpenLDAP slapd for tests: a private cn=config
// and database in a temporary directory, listening on a free loopback port,
// with the ppolicy overlay and the schemas Toolforge's directory uses.
//
// In one test:
//
//	srv := testldap.Start(t)
//	srv.AddTool(t, "tools", "demo", 50001, "/data/project/demo", "alice")
//
// Shared by a package (TestMain):
//
//	srv, err := testldap.StartServer("")
//	... m.Run() ...
//	srv.Stop()
//
// The helpers (AddTool, LockTool, Modify, ...) take the calling test's t and
// fail it on error, so a shared server blames the right test.
package testldap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Where Debian puts things; SlapdEnv overrides the binary (for a slapd
// elsewhere, and for testing the message when it is missing).
const (
	SlapdEnv      = "TESTLDAP_SLAPD"
	defaultSlapd  = "/usr/sbin/slapd"
	schemaDir     = "/etc/ldap/schema"
	moduleDir     = "/usr/lib/ldap"
	defaultSuffix = "dc=example,dc=org"
)

// Server is a running slapd. Its fields describe how to reach it; they are
// read-only.
type Server struct {
	URL    string // ldap://127.0.0.1:<port>, where StartTLS works too
	Suffix string // dc=example,dc=org
	Dir    string // config, data and slapd.log

	// LDAPSURL is ldaps://127.0.0.1:<another port>. Its certificate (for
	// 127.0.0.1 and localhost) is signed by the CA in CAFile.
	LDAPSURL, CAFile string

	// BindDN and Password are the rootDN: every write, no limits.
	BindDN, Password string
	// ReaderDN and ReaderPassword are a read-only account subject to the
	// size limit a production directory has (500 entries per search
	// without paging); WriteConfig uses it.
	ReaderDN, ReaderPassword string

	PeopleBase       string // humans: uid=<name>,ou=people,<suffix>
	GroupsBase       string // groups: cn=<project>.<tool>,ou=servicegroups,<suffix>
	ToolsBase        string // tools: uid=<project>.<tool>,ou=people,ou=servicegroups,<suffix>
	DisabledPolicyDN string // a pwdPolicy entry for SetToolPolicy

	cmd       *exec.Cmd
	exited    chan struct{}
	removeDir bool
	stopOnce  sync.Once
	stopErr   error

	mu   sync.Mutex
	conn *ldap.Conn // rootDN connection for the helpers, opened lazily
}

// Start starts a server for one test and stops it when the test ends. A
// missing slapd fails the test: an LDAP test that silently skips proves
// nothing.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer(t.TempDir())
	if err != nil {
		t.Fatalf("testldap: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testldap: %v", err)
		}
	})
	return s
}

// StartServer starts a server in dir (a new temporary directory, removed by
// Stop, if dir is empty). The caller must call Stop.
func StartServer(dir string) (*Server, error) {
	slapd, err := findSlapd()
	if err != nil {
		return nil, err
	}
	s := &Server{Suffix: defaultSuffix, BindDN: "cn=admin," + defaultSuffix, ReaderDN: "cn=reader," + defaultSuffix}
	s.PeopleBase = "ou=people," + s.Suffix
	s.GroupsBase = "ou=servicegroups," + s.Suffix
	s.ToolsBase = "ou=people," + s.GroupsBase
	s.DisabledPolicyDN = "cn=disabled,ou=ppolicies," + s.Suffix
	s.Password, s.ReaderPassword = randomSecret(), randomSecret()
	if dir == "" {
		if dir, err = os.MkdirTemp("", "testldap-"); err != nil {
			return nil, fmt.Errorf("make server directory: %w", err)
		}
		s.removeDir = true
	}
	if s.Dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("server directory %s: %w", dir, err)
	}
	if err := s.initialise(slapd); err != nil {
		s.cleanDir()
		return nil, err
	}
	// Another process may take the free port between our probe and slapd's
	// bind; a new port fixes that.
	for attempt := 0; ; attempt++ {
		err = s.launch(slapd)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == 4 {
			s.cleanDir()
			return nil, err
		}
	}
}

func findSlapd() (string, error) {
	path := defaultSlapd
	if p := os.Getenv(SlapdEnv); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("OpenLDAP slapd not found at %s (%v): install the Debian packages slapd ldap-utils "+
			"(apt-get install slapd ldap-utils) or set %s", path, err, SlapdEnv)
	}
	return path, nil
}

// initialise writes the cn=config tree and the base entries with slapd's
// offline tools, so the server starts complete and the bulk of a big
// fixture could be loaded the same way.
func (s *Server) initialise(slapd string) error {
	for _, d := range []string{"slapd.d", "data"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
			return fmt.Errorf("make %s: %w", d, err)
		}
	}
	ca, cert, key, err := writeTLSFiles(s.Dir)
	if err != nil {
		return err
	}
	s.CAFile = ca
	steps := []struct{ db, name, ldif string }{
		{"0", "config.ldif", s.configLDIF(cert, key)},
		{"1", "base.ldif", s.baseLDIF()},
	}
	for _, st := range steps {
		path := filepath.Join(s.Dir, st.name)
		if err := os.WriteFile(path, []byte(st.ldif), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", st.name, err)
		}
		out, err := exec.Command(slapd, "-Ta", "-n", st.db, "-F", filepath.Join(s.Dir, "slapd.d"), "-l", path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("slapadd %s: %w\n%s", st.name, err, out)
		}
	}
	return nil
}

var errPortTaken = errors.New("port taken")

func (s *Server) launch(slapd string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(ports[0])
	s.LDAPSURL = "ldaps://127.0.0.1:" + strconv.Itoa(ports[1])
	logPath := filepath.Join(s.Dir, "slapd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create slapd log: %w", err)
	}
	defer logFile.Close()
	// -d none keeps slapd in the foreground (so it is our child and dies
	// with us, via Pdeathsig) and logs only errors.
	cmd := exec.Command(slapd, "-F", filepath.Join(s.Dir, "slapd.d"), "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "none")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte("Address already in use")) {
				return errPortTaken
			}
			return fmt.Errorf("slapd exited during startup (%v); %s:\n%s", cmd.ProcessState, logPath, log)
		case <-time.After(20 * time.Millisecond):
		}
		conn, err := ldap.DialURL(s.URL)
		if err == nil {
			err = conn.Bind(s.ReaderDN, s.ReaderPassword)
			conn.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = s.kill() // not ready: that error is the one to report
			return fmt.Errorf("slapd at %s not ready after 15s: %w (log: %s)", s.URL, err, logPath)
		}
	}
}

// Stop stops slapd and waits until the process is gone. It is safe to call
// more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
			s.conn = nil
		}
		s.mu.Unlock()
		s.stopErr = s.kill()
		s.cleanDir()
	})
	return s.stopErr
}

// kill asks slapd to shut down cleanly and kills it if it takes too long.
func (s *Server) kill() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("slapd (pid %d) ignored SIGTERM for 5s and was killed", s.cmd.Process.Pid)
}

func (s *Server) cleanDir() {
	if s.removeDir {
		os.RemoveAll(s.Dir)
	}
}

// Pid is slapd's process id (for tests that check it is gone).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// freePorts holds all n listeners until it has them, so the ports differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
