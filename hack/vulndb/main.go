// Command vulndb is the lint gate's vulnerability check, offline.
//
// "vulndb build" turns the OSV files of the golang.org/x/vulndb module
// (data/osv, as the Go module proxy serves it) into a vulnerability
// database in the layout govulncheck reads with -db file://DIR (the v1
// layout: index/db.json, index/modules.json, index/vulns.json, ID/<id>.json),
// so no network beyond the module proxy is needed.
//
// "vulndb report" reads `govulncheck -format json` on stdin and fails on
// every vulnerability the code calls in a module this repository requires
// (fixed by raising the module in go.mod); one in the standard library is
// fixed by the Go toolchain of the machines, not by this repository, and
// is reported as a warning naming the release that fixes it.
//
// Standard library only, so it costs nothing to build (the vulndb module's
// own indexdb command pulls cloud SDKs).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// entry is what the indexes need of an OSV entry; the entry itself is
// copied as it is.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	// Fixed is left out: govulncheck then reads every entry of a module it
	// uses and decides from the entry's ranges, as it does for a fixed
	// version it has not reached.
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// idRE is a Go vulnerability id, which names the entry's file.
var idRE = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]+$`)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: vulndb build -osv DIR -out DIR [-modified TIME] | vulndb report < govulncheck.json")
	}
	switch os.Args[1] {
	case "build":
		fs := flag.NewFlagSet("build", flag.ExitOnError)
		osvDir := fs.String("osv", "", "directory of OSV JSON files (golang.org/x/vulndb's data/osv)")
		out := fs.String("out", "", "directory to write the database to")
		modified := fs.String("modified", "", "the database's modification time (RFC 3339), when no entry has one")
		_ = fs.Parse(os.Args[2:]) // ExitOnError
		if *osvDir == "" || *out == "" {
			log.Fatal("vulndb build: -osv and -out are required")
		}
		if err := build(*osvDir, *out, *modified); err != nil {
			log.Fatalf("vulndb build: %v", err)
		}
	case "report":
		failed, err := report(os.Stdin, os.Stdout)
		if err != nil {
			log.Fatalf("vulndb report: %v", err)
		}
		if failed {
			os.Exit(1)
		}
	default:
		log.Fatalf("vulndb: unknown command %q (build, report)", os.Args[1])
	}
}

// message is one JSON value of govulncheck's stream; only findings matter.
type message struct {
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
			Position *struct {
				Filename string `json:"filename"`
				Line     int    `json:"line"`
			} `json:"position"`
		} `json:"trace"`
	} `json:"finding"`
}

// report prints the vulnerabilities the code calls (a finding whose trace
// reaches a function) and says whether any is this repository's to fix.
func report(in io.Reader, out io.Writer) (failed bool, err error) {
	type key struct{ id, module string }
	summaries := map[string]string{}
	called := map[key]string{} // fixed version
	var where = map[key]string{}
	dec := json.NewDecoder(in)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, fmt.Errorf("govulncheck output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // the module or package is used, the vulnerable code is not called
		}
		k := key{f.OSV, f.Trace[0].Module}
		called[k] = f.FixedVersion
		if last := f.Trace[len(f.Trace)-1]; last.Position != nil && where[k] == "" {
			where[k] = fmt.Sprintf("%s:%d", last.Position.Filename, last.Position.Line)
		}
	}
	keys := make([]key, 0, len(called))
	for k := range called {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].id < keys[j].id })
	toolchain := 0
	for _, k := range keys {
		fixed := called[k]
		switch k.module {
		case "stdlib", "toolchain":
			toolchain++
			fmt.Fprintf(out, "warning: %s in the Go standard library, called (e.g. from %s): %s; fixed in Go %s, a toolchain this repository does not choose\n",
				k.id, where[k], summaries[k.id], strings.TrimPrefix(fixed, "v"))
		default:
			failed = true
			fmt.Fprintf(out, "error: %s in %s, called (e.g. from %s): %s; fixed in %s %s: raise it in go.mod\n",
				k.id, k.module, where[k], summaries[k.id], k.module, fixed)
		}
	}
	switch {
	case failed:
		fmt.Fprintln(out, "govulncheck: the code calls known vulnerabilities in required modules")
	case toolchain > 0:
		fmt.Fprintf(out, "govulncheck: no called vulnerability in required modules; %d in the Go toolchain's standard library (upgrade the machines' Go)\n", toolchain)
	default:
		fmt.Fprintln(out, "govulncheck: no called vulnerability")
	}
	return failed, nil
}

func build(osvDir, out, modified string) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no GO-*.json files in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	var newest time.Time
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if !idRE.MatchString(e.ID) || filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: entry id %q is not a Go vulnerability id matching the file", f, e.ID)
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			path := a.Package.Name
			if a.Package.Ecosystem != "Go" || path == "" || seen[path] {
				continue
			}
			seen[path] = true
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), data, 0o644); err != nil {
			return err
		}
	}
	if newest.IsZero() && modified != "" {
		if newest, err = time.Parse(time.RFC3339, modified); err != nil {
			return fmt.Errorf("-modified: %w", err)
		}
	}
	list := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{
		"db":      map[string]time.Time{"modified": newest},
		"modules": list,
		"vulns":   vulns,
	} {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name+".json"), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("vulnerability database: %d entries, %d modules, modified %s\n", len(vulns), len(list), newest.Format(time.RFC3339))
	return nil
}
