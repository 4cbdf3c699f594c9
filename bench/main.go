// Command bench measures the platform against its performance targets on
// this machine and prints one table per suite. Run it with `make bench`
// (optionally BENCH_ARGS="devcluster" to pick suites).
//
// Figures are wall-clock on a shared 2-core machine: compare ratios measured
// in the same run rather than absolute numbers across runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

type suite struct {
	name string
	run  func(ctx context.Context, r *report) error
}

var suites = []suite{
	{"devcluster", benchDevcluster},
	{"accounts", benchAccounts},
	{"jobs", benchJobs},
	{"admission", benchAdmission},
	{"webservice", benchWebservice},
	{"status", benchStatus},
	{"backup", benchBackup},
	{"migration", benchMigration},
	{"workloads", benchWorkloads},
	{"logs", benchLogs},
	{"builds", benchBuilds},
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bench [suite ...]\nsuites:")
		for _, s := range suites {
			fmt.Fprintf(os.Stderr, " %s", s.name)
		}
		fmt.Fprintln(os.Stderr)
	}
	flag.Parse()
	want := map[string]bool{}
	for _, a := range flag.Args() {
		want[a] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Printf("bench on %d CPUs, %s, %s\n", runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, time.Now().Format(time.RFC3339))
	failed := false
	for _, s := range suites {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		r := &report{title: s.name}
		err := s.run(ctx, r)
		r.print(os.Stdout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
