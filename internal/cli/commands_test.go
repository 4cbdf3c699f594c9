package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/golden"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// job is a normalized definition, as the API stores it.
func job(name, command, image string) jobs.Job {
	j := jobs.Job{Name: name, Command: command, Image: image, Schedule: "@daily"}
	j.Normalize()
	return j
}

func writeJobsFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// load makes the file's jobs exist and reports each; the tool's other jobs
// are none of its business (the original's T364204: a load of a one-job
// file deleted all the others).
func TestLoadCreatesUpdatesAndLeavesAloneButDeletesNothing(t *testing.T) {
	f := newFakeAPI(t)
	for _, j := range []jobs.Job{job("other1", "./a", "bookworm"), job("other2", "./b", "bookworm"), job("same", "./same", "python3.11"), job("changed", "./old", "python3.11")} {
		f.jobs[j.Name] = j
	}
	file := writeJobsFile(t, `
- {name: same, command: ./same, image: python3.11, schedule: '@daily'}
- {name: changed, command: ./new, image: python3.11, schedule: '@daily'}
- {name: fresh, command: ./fresh, image: bookworm, schedule: '@daily'}
`)
	r := toolforge(t, false, "", "jobs", "load", file)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden.Assert(t, "jobs_load_plain.golden", []byte(r.stdout))
	if r.stderr != "" {
		t.Errorf("stderr %q: the results are the output, said once", r.stderr)
	}
	for _, w := range f.writes() {
		if strings.HasPrefix(w, "DELETE") {
			t.Errorf("load deleted: %s", w)
		}
	}
	if got := f.jobNames(); !slices.Equal(got, []string{"changed", "fresh", "other1", "other2", "same"}) {
		t.Errorf("jobs after load: %v", got)
	}
}

// --replace deletes the jobs the file does not have, after naming them and
// asking; off a terminal only with --yes.
func TestLoadReplaceNamesWhatItDeletesAndAsks(t *testing.T) {
	file := writeJobsFile(t, "- {name: same, command: ./same, image: python3.11, schedule: '@daily'}\n")
	setup := func(t *testing.T) *fakeAPI {
		f := newFakeAPI(t)
		for _, j := range []jobs.Job{job("other1", "./a", "bookworm"), job("other2", "./b", "bookworm"), job("same", "./same", "python3.11")} {
			f.jobs[j.Name] = j
		}
		return f
	}
	t.Run("off a terminal without --yes nothing changes", func(t *testing.T) {
		f := setup(t)
		r := toolforge(t, false, "", "jobs", "load", file, "--replace")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "other1, other2") || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if w := f.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})
	t.Run("on a terminal, no keeps them", func(t *testing.T) {
		f := setup(t)
		r := toolforge(t, true, "n\n", "jobs", "load", file, "--replace")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "other1, other2") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if w := f.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})
	t.Run("--yes deletes them and says so", func(t *testing.T) {
		f := setup(t)
		r := toolforge(t, false, "", "jobs", "load", file, "--replace", "--yes")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		golden.Assert(t, "jobs_load_replace_plain.golden", []byte(r.stdout))
		if got := f.jobNames(); !slices.Equal(got, []string{"same"}) {
			t.Fatalf("jobs after load --replace: %v", got)
		}
	})
	t.Run("with --job it is refused", func(t *testing.T) {
		f := setup(t)
		if r := toolforge(t, false, "", "jobs", "load", file, "--replace", "--yes", "--job", "same"); r.code != ExitUsage {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if w := f.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})
}

func TestFlushAsksOnlyOnATerminal(t *testing.T) {
	setup := func(t *testing.T) *fakeAPI {
		f := newFakeAPI(t)
		f.jobs["a"], f.jobs["b"] = job("a", "./a", "bookworm"), job("b", "./b", "bookworm")
		return f
	}
	t.Run("off a terminal it deletes without asking, as the original (scripts call a bare flush)", func(t *testing.T) {
		f := setup(t)
		r := toolforge(t, false, "", "jobs", "flush")
		if r.code != 0 || len(f.jobs) != 0 || strings.Contains(r.stderr, "?") {
			t.Fatalf("exit %d, %d jobs left, stderr %q", r.code, len(f.jobs), r.stderr)
		}
	})
	t.Run("on a terminal it names the jobs, and no keeps them", func(t *testing.T) {
		f := setup(t)
		r := toolforge(t, true, "no\n", "jobs", "flush")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "Delete all 2 job(s) of tool demo (a, b)?") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if w := f.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})
	for _, how := range []struct {
		name  string
		tty   bool
		stdin string
		args  []string
	}{{"yes on a terminal", true, "y\n", nil}, {"--yes", false, "", []string{"--yes"}}} {
		t.Run(how.name+" flushes", func(t *testing.T) {
			f := setup(t)
			r := toolforge(t, how.tty, how.stdin, append([]string{"jobs", "flush"}, how.args...)...)
			if r.code != 0 || len(f.jobs) != 0 {
				t.Fatalf("exit %d, %d jobs left: %s", r.code, len(f.jobs), r.stderr)
			}
		})
	}
}

// The original's envvars output: show prints the name and the value,
// delete what it deleted, quota what is used and what is still available.
func TestEnvvarsOutputIsTheOriginals(t *testing.T) {
	f := newFakeAPI(t)
	f.envvars["API_TOKEN"], f.envvars["DEBUG"] = "s3cr3t", "1"
	for _, tc := range []struct {
		golden string
		tty    bool
		args   []string
	}{
		{"envvars_show_plain", false, []string{"envvars", "show", "API_TOKEN"}},
		{"envvars_show_tty", true, []string{"envvars", "show", "API_TOKEN"}},
		{"envvars_show_json", false, []string{"envvars", "show", "API_TOKEN", "-o", "json"}},
		{"envvars_quota_plain", false, []string{"envvars", "quota"}},
		{"envvars_quota_tty", true, []string{"envvars", "quota"}},
		{"envvars_delete_plain", false, []string{"envvars", "delete", "--yes-im-sure", "DEBUG"}},
	} {
		r := toolforge(t, tc.tty, "", tc.args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
		golden.Assert(t, tc.golden+".golden", []byte(r.stdout))
	}
	if _, ok := f.envvars["DEBUG"]; ok {
		t.Fatal("DEBUG was not deleted")
	}
}

// Every read command prints JSON and YAML with -o, the same data in both;
// an unknown format is a usage error before the API is called.
func TestEveryReadCommandPrintsJSONAndYAML(t *testing.T) {
	f := newFakeAPI(t)
	f.jobs["a"] = job("a", "./a", "bookworm")
	f.envvars["DEBUG"] = "1"
	for _, cmd := range [][]string{
		{"jobs", "list"}, {"jobs", "show", "a"}, {"jobs", "images"}, {"jobs", "quota"},
		{"envvars", "list"}, {"envvars", "list", "--show-values"}, {"envvars", "show", "DEBUG"}, {"envvars", "quota"},
	} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			j := toolforge(t, false, "", append(cmd, "-o", "json")...)
			y := toolforge(t, false, "", append(cmd, "-o", "yaml")...)
			if j.code != 0 || y.code != 0 {
				t.Fatalf("exit %d/%d: %s %s", j.code, y.code, j.stderr, y.stderr)
			}
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(j.stdout), &fromJSON); err != nil {
				t.Fatalf("-o json: %v\n%s", err, j.stdout)
			}
			if err := yaml.Unmarshal([]byte(y.stdout), &fromYAML); err != nil {
				t.Fatalf("-o yaml: %v\n%s", err, y.stdout)
			}
			if !reflect.DeepEqual(fromJSON, fromYAML) || fromJSON == nil {
				t.Fatalf("json and yaml differ:\n%s\n%s", j.stdout, y.stdout)
			}
			before := len(f.calls)
			if r := toolforge(t, false, "", append(cmd, "-o", "xml")...); r.code != ExitUsage || len(f.calls) != before {
				t.Fatalf("-o xml: exit %d, %d API calls", r.code, len(f.calls)-before)
			}
		})
	}
}

// --wait takes its value after a space too, as the original's argparse
// does; a bare --wait is the default, and a job name after it stays the
// job's name.
func TestOptionalValueFlagsTakeTheirValueAfterASpace(t *testing.T) {
	rest := []string{"--command", "./x", "--image", "bookworm"}
	cases := []struct {
		args     []string
		wait     string
		position string
	}{
		{append([]string{"--wait", "120", "job1"}, rest...), "120", "job1"},
		{append([]string{"job1", "--wait", "120"}, rest...), "120", "job1"},
		{append([]string{"--wait=120", "job1"}, rest...), "120", "job1"},
		{append([]string{"job1", "--wait"}, rest...), "600", "job1"},
		{append([]string{"--wait", "job1"}, rest...), "600", "job1"},
		{append([]string{"job1"}, rest...), "", "job1"},
	}
	for _, tc := range cases {
		root := NewRootCommand(&IOStreams{})
		args := joinOptionalValues(root, append([]string{"jobs", "run"}, tc.args...))
		cmd, flags, err := root.Find(args)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(flags); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		wait, _ := cmd.Flags().GetString("wait")
		if pos := cmd.Flags().Args(); wait != tc.wait || !slices.Equal(pos, []string{tc.position}) || cmd.ValidateArgs(pos) != nil {
			t.Errorf("%v: --wait %q and arguments %q, want %q and [%s]", tc.args, wait, pos, tc.wait, tc.position)
		}
	}
}

// Through the whole command line: --wait 120 NAME runs NAME and waits
// 120 s, as --wait=120 does.
func TestRunWaitsWithTheValueAfterASpace(t *testing.T) {
	f := newFakeAPI(t)
	for _, wait := range [][]string{{"--wait", "120"}, {"--wait=120"}} {
		args := append(append([]string{"jobs", "run"}, wait...), "once", "--command", "./x", "--image", "bookworm")
		r := toolforge(t, false, "", args...)
		if r.code != 0 || !strings.Contains(r.stderr, "Waiting up to 2m0s for job 'once' to finish") {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		delete(f.jobs, "once")
	}
}

// The shell completes job, envvar and image names from the API, and -o's
// formats.
func TestCompletionOffersTheToolsNames(t *testing.T) {
	f := newFakeAPI(t)
	f.jobs["backup"], f.jobs["bot"] = job("backup", "./a", "bookworm"), job("bot", "./b", "bookworm")
	f.envvars["API_TOKEN"], f.envvars["DEBUG"] = "x", "y"
	cases := map[string][]string{
		"jobs show b":                       {"backup", "bot"},
		"jobs logs ba":                      {"backup"},
		"jobs delete ":                      {"backup", "bot"},
		"jobs restart bo":                   {"bot"},
		"jobs run x --command y --image py": {"python3.11", "python3.9"},
		"envvars show ":                     {"API_TOKEN", "DEBUG"},
		"envvars delete D":                  {"DEBUG"},
		"jobs list -o ":                     {"normal", "long", "name", "json", "yaml"},
		"jobs show backup ":                 nil, // one name only
		// webservice reads the catalogue with the tool's kubeconfig.
		"webservice py":              {"python3.11", "python3.13", "python3.9"},
		"webservice python3.11 ":     {"start", "stop", "restart", "status", "logs", "shell", "migrate"},
		"webservice start python3.1": {"python3.11", "python3.13"},
		"webservice php":             {"php7.4", "php8.2"},
	}
	for line, want := range cases {
		args := strings.Split(line, " ")
		r := toolforge(t, false, "", append([]string{"__complete"}, args...)...)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		got = slices.DeleteFunc(got, func(l string) bool { return strings.Contains(l, "\t") }) // cobra's subcommands, with descriptions
		if r.code != 0 || !slices.Equal(got, want) {
			t.Errorf("%q: %q (exit %d, stderr %q), want %q", line, got, r.code, r.stderr, want)
		}
	}
}
