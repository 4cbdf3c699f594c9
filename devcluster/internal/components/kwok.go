package components

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
)

// KwokStages is kwok's configuration: its stock "fast" stages. Nodes become
// Ready at once and keep a lease; pods become Running at once; pods owned by
// a Job complete; deleted pods go away.
func KwokStages() string {
	return strings.Join([]string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}, "\n---\n")
}

// RunKwok runs kwok with args (its own command line, without the program
// name) inside the calling process (the supervisor) until ctx ends, logging
// to logw. In its own process it would cost ~130 MiB of resident binary
// pages for ~15 MiB of its own memory.
func RunKwok(ctx context.Context, args []string, logw io.Writer) error {
	ctx = log.NewContext(ctx, log.NewLogger(logw, log.LevelInfo))
	// kwok exits the whole process when its kubelet server stops, which it
	// does whenever kwok is stopped — unless it "works on the host network"
	// (POD_IP equals HOST_IP), which is exactly its situation here.
	for _, v := range []string{"POD_IP", "HOST_IP"} {
		if err := os.Setenv(v, "127.0.0.1"); err != nil {
			return err
		}
	}
	// Kubernetes packages linked into this binary register a global
	// --version flag that clashes with kwok's own; kwok needs none of them.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ContinueOnError)
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	// config.InitFlags reads --config from os.Args, as kwok's main does.
	saved := os.Args
	os.Args = append([]string{"kwok"}, args...)
	ctx, err := config.InitFlags(ctx, flagset)
	os.Args = saved
	if err != nil {
		return err
	}
	cmd := kwokcmd.NewCommand(ctx)
	cmd.PersistentFlags().AddFlagSet(flagset)
	cmd.SetArgs(args)
	cmd.SetOut(logw)
	cmd.SetErr(logw)
	return cmd.ExecuteContext(ctx)
}
