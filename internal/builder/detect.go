package builder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Languages the builder detects, each with the catalogue image its app
// runs on (the run base) and what its dependency step does.
const (
	Python = "python"
	Node   = "node"
	Go     = "go"
	Static = "static"
	// Procfile is an app with only a Procfile: its commands run on the
	// plain Debian base.
	Procfile = "procfile"
)

// Files the detection looks for, in the order it reports them.
var detectedFiles = []string{"Procfile", "Aptfile", "requirements.txt", "pyproject.toml", "package.json", "go.mod", "index.html"}

// Plan is what the builder found in a repository and will do.
type Plan struct {
	// Language decides the run base and the dependency step.
	Language string
	// Processes are the Procfile's process types (and the language's
	// default web process when the Procfile has none).
	Processes map[string]string
	// Aptfile lists Debian packages to add.
	Aptfile []string
	// DepsFile is the file whose hash keys the dependency layer.
	DepsFile string
}

// Detect reads the app in dir. An app nothing detects is an error naming
// the files looked for.
func Detect(dir string) (*Plan, error) {
	has := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && st.Mode().IsRegular()
	}
	p := &Plan{Processes: map[string]string{}}
	if has("Procfile") {
		procs, err := ParseProcfile(filepath.Join(dir, "Procfile"))
		if err != nil {
			return nil, err
		}
		p.Processes = procs
	}
	if has("Aptfile") {
		pkgs, err := parseAptfile(filepath.Join(dir, "Aptfile"))
		if err != nil {
			return nil, err
		}
		p.Aptfile = pkgs
	}
	switch {
	case has("requirements.txt"):
		p.Language, p.DepsFile = Python, "requirements.txt"
	case has("pyproject.toml"):
		p.Language, p.DepsFile = Python, "pyproject.toml"
	case has("package.json"):
		p.Language, p.DepsFile = Node, "package.json"
		if has("package-lock.json") {
			p.DepsFile = "package-lock.json"
		}
		if _, ok := p.Processes["web"]; !ok {
			if start, err := npmStart(filepath.Join(dir, "package.json")); err != nil {
				return nil, err
			} else if start {
				p.Processes["web"] = "npm start"
			}
		}
	case has("go.mod"):
		p.Language, p.DepsFile = Go, "go.mod"
		if has("go.sum") {
			p.DepsFile = "go.sum"
		}
		if _, ok := p.Processes["web"]; !ok {
			p.Processes["web"] = GoBinDir + "/" + goBinaryName(filepath.Join(dir, "go.mod"))
		}
	case has("index.html"):
		p.Language = Static
		if _, ok := p.Processes["web"]; !ok {
			p.Processes["web"] = LauncherPath + " " + staticFlag + " " + AppDir
		}
	case len(p.Processes) > 0:
		p.Language = Procfile
	default:
		return nil, fmt.Errorf("no app detected in the repository: looked for %s at its top level (Python: requirements.txt or pyproject.toml; Node.js: package.json; Go: go.mod; a static site: index.html; any app: Procfile)", strings.Join(detectedFiles, ", "))
	}
	return p, nil
}

// procLineRE is a Procfile line: a process type and its command.
var procLineRE = regexp.MustCompile(`^([A-Za-z0-9_-]+):\s*(.+)$`)

// ParseProcfile reads process types ("web: gunicorn app:app").
func ParseProcfile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := procLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("Procfile line %d %q: want <process type>: <command>", n, line)
		}
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out, sc.Err()
}

// debNameRE is a Debian package name (Policy §5.6.1), with an optional
// architecture-free version constraint not allowed: an Aptfile names
// packages.
var debNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

func parseAptfile(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !debNameRE.MatchString(line) {
			return nil, fmt.Errorf("Aptfile line %d %q: want one Debian package name a line", n+1, line)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out, nil
}

func npmStart(file string) (bool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
		Main    string            `json:"main"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return false, fmt.Errorf("package.json: %w", err)
	}
	_, ok := pkg.Scripts["start"]
	// npm start runs `node server.js` when there is no start script and
	// server.js exists.
	if !ok {
		_, err := os.Stat(filepath.Join(filepath.Dir(file), "server.js"))
		ok = err == nil
	}
	return ok, nil
}

// goBinaryName is the last element of the module path, as `go build`
// names the binary of a main package at the module's root.
func goBinaryName(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "app"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			mod = strings.Trim(strings.TrimSpace(mod), `"`)
			return filepath.Base(mod)
		}
	}
	return "app"
}
