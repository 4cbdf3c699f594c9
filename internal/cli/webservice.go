package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

func init() { nouns = append(nouns, newWebserviceCommand) }

// webserviceActions are the verbs, in the order help lists them.
var webserviceActions = []string{"start", "stop", "restart", "status", "logs", "shell", "migrate"}

// webserviceOptions are the flags of every webservice verb; each verb
// registers the ones it uses.
type webserviceOptions struct {
	Type     string
	CPU      string
	Mem      string
	Replicas int
	Backend  string
	Template string
	Domain   string
	Timeout  time.Duration
	Output   *output
	Logs     logsOptions
	// Command is what shell runs instead of a shell (after --).
	Command []string
	// The buildservice type's image and mount.
	BuildserviceImage string
	Mount             string

	replicasSet bool
}

func newWebserviceCommand(s *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webservice [TYPE] start|stop|restart|status|logs|shell|migrate",
		Short: "Run your tool's web service",
		Long: `Run your tool's web service at https://<tool>.toolforge.org/: a Deployment, a
Service on port 8000 and an Ingress in your tool's namespace.

TYPE is a webservice type from the image catalogue; built in: ` + strings.Join(webservice.Types(images.Builtin()), ", ") + `.
Without TYPE, start and restart use the type of the last start (kept in
$HOME/service.manifest), then $HOME/service.template, then ` + webservice.DefaultType + `.
The same holds for --cpu (default 0.5), --mem (default 512Mi) and --replicas
(default 1): flags win over the manifest, the manifest over the template.`,
		Example: `  webservice python3.11 start
  webservice start --mem 1Gi --cpu 1
  webservice restart
  webservice status
  webservice logs -f
  webservice stop
  webservice python3.11 shell
  webservice migrate`,
		// The original's form puts TYPE before the verb
		// (webservice --backend=kubernetes python3.11 start), which cobra
		// cannot route: this command takes the raw arguments and hands
		// them to the verb.
		DisableFlagParsing: true,
		ValidArgsFunction:  completeWebserviceFirst,
		RunE: func(cmd *cobra.Command, args []string) error {
			return dispatchWebservice(cmd, args)
		},
	}
	for _, newVerb := range []func(*IOStreams) *cobra.Command{
		newWebserviceStart, newWebserviceStop, newWebserviceRestart,
		newWebserviceStatus, newWebserviceLogs, newWebserviceShell, newWebserviceMigrate,
	} {
		cmd.AddCommand(newVerb(s))
	}
	return cmd
}

// dispatchWebservice runs `webservice [flags] TYPE VERB [flags]` as
// `webservice VERB [flags] TYPE [flags]`.
func dispatchWebservice(cmd *cobra.Command, args []string) error {
	// The verb is before any --: what follows is shell's command.
	head := args
	if dash := slices.Index(args, "--"); dash >= 0 {
		head = args[:dash]
	}
	i := slices.IndexFunc(head, func(a string) bool { return slices.Contains(webserviceActions, a) })
	if i < 0 {
		if slices.Contains(args, "-h") || slices.Contains(args, "--help") {
			return cmd.Help()
		}
		if len(args) > 0 {
			return Usagef("no action in %q: want %s [TYPE] %s (see --help)", strings.Join(args, " "), cmd.CommandPath(), strings.Join(webserviceActions, "|"))
		}
		return Usagef("say what to do: %s [TYPE] %s (see --help)", cmd.CommandPath(), strings.Join(webserviceActions, "|"))
	}
	var verb *cobra.Command
	for _, c := range cmd.Commands() {
		if c.Name() == args[i] {
			verb = c
		}
	}
	rest := append(slices.Clone(args[:i]), args[i+1:]...)
	verb.SetContext(cmd.Context())
	verb.InitDefaultHelpFlag()
	if err := verb.ParseFlags(rest); err != nil {
		return verb.FlagErrorFunc()(verb, err)
	}
	if help, _ := verb.Flags().GetBool("help"); help {
		return verb.Help()
	}
	pos := verb.Flags().Args()
	if err := verb.ValidateArgs(pos); err != nil {
		return err
	}
	return verb.RunE(verb, pos)
}

// addBackendFlag is on every verb: the original's users and scripts pass
// --backend=kubernetes.
func addBackendFlag(fs *pflag.FlagSet, o *webserviceOptions) {
	fs.StringVar(&o.Backend, "backend", "", "where to run; the only backend is kubernetes (accepted for compatibility)")
}

// addSettingsFlags are the settings start, restart and shell resolve.
func addSettingsFlags(fs *pflag.FlagSet, o *webserviceOptions, replicas bool) {
	fs.StringVar(&o.CPU, "cpu", "", "CPU limit of each pod, e.g. 0.5, 1 or 250m (default 0.5, or the manifest's or template's)")
	fs.StringVar(&o.Mem, "mem", "", "memory limit of each pod, e.g. 512Mi or 2Gi (default 512Mi, or the manifest's or template's)")
	if replicas {
		fs.IntVar(&o.Replicas, "replicas", 0, "number of pods (default 1, or the manifest's or template's)")
	}
	fs.StringVar(&o.Template, "template", "", "file with default settings (default $HOME/service.template)")
	fs.DurationVar(&o.Timeout, "timeout", webservice.DefaultTimeout, "how long to wait for pods to start or stop")
	fs.StringVar(&o.BuildserviceImage, "buildservice-image", "", "buildservice type: the tool's image to run (default tool-<tool>/tool-<tool>:latest)")
	fs.StringVar(&o.Mount, "mount", "", "buildservice type: mount the tool's home (all) or not (none, the default)")
}

func addDomainFlag(fs *pflag.FlagSet, o *webserviceOptions) {
	fs.StringVar(&o.Domain, "domain", "", "domain the web service is published under (default $"+webservice.DomainEnv+", or domain: in "+webservice.CommonConfigFile+", or "+tenancy.DefaultDomain+")")
}

// typeArg takes the optional TYPE positional argument. stop, status and
// logs accept and ignore one too: the original's users write
// `webservice python3.11 stop`.
func typeArg(o *webserviceOptions) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 1 {
			return Usagef("%s takes at most one TYPE, got %q", cmd.CommandPath(), args)
		}
		if len(args) == 1 {
			o.Type = args[0]
		}
		return nil
	}
}

func newWebserviceStart(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "start [TYPE]",
		Short: "Start the web service (prints \"Starting webservice\")",
		Long: `Start the web service with TYPE (or the manifest's type) and the settings of
the flags, the manifest and the template, in that order. The settings are
checked against your tool's limits before anything is created, and kept in
$HOME/service.manifest for the next start or restart.`,
		Args:              typeArg(o),
		ValidArgsFunction: completeFirstArg(webserviceTypes),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			return runWebservice(cmd.Context(), s, o, "start")
		},
	}
	addSettingsFlags(cmd.Flags(), o, true)
	addDomainFlag(cmd.Flags(), o)
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

func newWebserviceRestart(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "restart [TYPE]",
		Short: "Restart the web service, applying new settings (prints \"Restarting webservice\")",
		Long: `Replace the web service's pods, with the settings of the flags, the manifest
and the template, in that order; without flags it restarts with the settings
it was started with. A web service that does not run is started.`,
		Args:              typeArg(o),
		ValidArgsFunction: completeFirstArg(webserviceTypes),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			return runWebservice(cmd.Context(), s, o, "restart")
		},
	}
	addSettingsFlags(cmd.Flags(), o, true)
	addDomainFlag(cmd.Flags(), o)
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

func newWebserviceStop(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the web service (prints \"Stopping webservice\")",
		Long: `Delete the web service's Deployment, Service and Ingress and wait for its pods
to go. The manifest keeps the settings, so a later start starts the same web
service.`,
		Args: typeArg(o),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebservice(cmd.Context(), s, o, "stop")
		},
	}
	cmd.Flags().DurationVar(&o.Timeout, "timeout", webservice.DefaultTimeout, "how long to wait for pods to stop")
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

func newWebserviceStatus(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether the web service runs",
		Long: `Print "webservice of type TYPE is running" or "webservice is not running", as
the cluster has it; -o json or -o yaml adds the replicas, resources and URL.`,
		Args: typeArg(o),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebservice(cmd.Context(), s, o, "status")
		},
	}
	o.Output = addOutputFlag(cmd, "normal")
	cmd.Flags().StringVar(&o.Template, "template", "", "file with default settings (default $HOME/service.template)")
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

func newWebserviceLogs(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print the web service's logs",
		Long: `Print the web service's logs: the lines its pods wrote, oldest first, from
every pod the log store keeps lines of (14 days by default), the pods a
restart replaced included; each line with its pod when they come from
several. --events shows the platform's events about the web service. When
the store cannot be reached, the current pods' logs are read from the
kubelet, with a warning.`,
		Args: typeArg(o),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebservice(cmd.Context(), s, o, "logs")
		},
	}
	o.Logs.addFlags(cmd.Flags(), true)
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

// webserviceClient is the web service of the tool whose HOME this is,
// with the tool's own credentials.
func webserviceClient(s *IOStreams, o *webserviceOptions) (*webservice.Client, error) {
	if err := webservice.CheckBackend(o.Backend); err != nil {
		return nil, Usagef("--backend: %v", err)
	}
	tool, err := CurrentTool()
	if err != nil {
		return nil, err
	}
	return webserviceClientFor(s, o, tool)
}

// webserviceClientFor is the web service of tool in its context.
func webserviceClientFor(s *IOStreams, o *webserviceOptions, tool *Tool) (*webservice.Client, error) {
	cfg, err := tool.RestConfig()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", tool.Name, err)
	}
	// The published settings are read once, and only when the domain
	// is not named elsewhere; the URL template follows the platform's
	// domain only (a --domain of one's own has no known way in).
	var published webservice.Published
	domain, err := webservice.ResolveDomain(o.Domain, os.Getenv, webservice.CommonConfigFile, func() (string, error) {
		var err error
		published, err = webservice.ReadPublished(context.Background(), kube, tenancy.PlatformNamespace)
		return published.Domain, err
	})
	if err != nil {
		return nil, Usagef("%v", err)
	}
	return &webservice.Client{
		Kube: kube, Config: cfg, Tool: tool.Name, Namespace: tool.Namespace, Home: tool.Home,
		Domain: domain, WebURL: published.WebURL, PlatformNamespace: tenancy.PlatformNamespace,
		Out: s.Out, ErrOut: s.ErrOut, Timeout: o.Timeout,
	}, nil
}

func (o *webserviceOptions) settings() webservice.Options {
	c := webservice.Choices{Type: o.Type, CPU: o.CPU, Mem: o.Mem, BuildserviceImage: o.BuildserviceImage, Mount: o.Mount}
	if o.replicasSet {
		c.Replicas = strconv.Itoa(o.Replicas)
	}
	return webservice.Options{Flags: c, Template: o.Template}
}

// runWebservice runs one verb.
func runWebservice(ctx context.Context, s *IOStreams, o *webserviceOptions, action string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Output != nil {
		if err := o.Output.check(); err != nil {
			return err
		}
	}
	if action == "logs" {
		if err := o.Logs.check(); err != nil {
			return err
		}
	}
	c, err := webserviceClient(s, o)
	if err != nil {
		return err
	}
	switch action {
	case "start":
		err = c.Start(ctx, o.settings())
	case "restart":
		err = c.Restart(ctx, o.settings())
	case "stop":
		err = c.Stop(ctx)
	case "status":
		// The template is read as start reads it, so that a broken one
		// is reported before it breaks the next start; status still
		// reports, as monitoring scripts rely on it.
		if _, _, terr := c.Template(o.Template); terr != nil {
			fmt.Fprintf(s.ErrOut, "warning: %v\n", terr)
		}
		err = printWebserviceStatus(ctx, s, c, o.Output)
	case "logs":
		err = webserviceLogs(ctx, s, c, &o.Logs)
	case "shell":
		err = runWebserviceShell(ctx, s, c, o)
	}
	var input *webservice.InputError
	if errors.As(err, &input) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}

func printWebserviceStatus(ctx context.Context, s *IOStreams, c *webservice.Client, out *output) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if out.data() {
		return out.print(s.Out, st)
	}
	if _, err := fmt.Fprintln(s.Out, st.Line()); err != nil {
		return err
	}
	if st.Usage != "" {
		// After the line scripts read: what its pods use.
		_, err = fmt.Fprintf(s.Out, "using %s\n", st.Usage)
	}
	return err
}

// webserviceTypes lists the types of the catalogue the tool reads, for
// completion.
func webserviceTypes(ctx context.Context) ([]string, error) {
	tool, err := CurrentTool()
	if err != nil {
		return nil, err
	}
	kube, err := tool.Kube()
	if err != nil {
		return nil, err
	}
	cat, err := images.Load(ctx, kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace))
	if err != nil {
		return nil, err
	}
	return webservice.Types(cat), nil
}

// completeWebserviceFirst completes the words after webservice in the
// original's order, TYPE before the verb: first a type (cobra adds the
// verbs, the subcommands), then the verb after a type.
func completeWebserviceFirst(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return completeNames(cmd, toComplete, webserviceTypes)
	case 1:
		return completeNames(cmd, toComplete, func(context.Context) ([]string, error) { return webserviceActions, nil })
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// webserviceLogs shows the web service's stored lines, or its current
// pods' from the kubelet when the store has none yet or cannot be reached.
func webserviceLogs(ctx context.Context, s *IOStreams, c *webservice.Client, o *logsOptions) error {
	api, err := newAPIClient(s, &apiFlags{})
	if err == nil {
		what := logs.Logs
		if o.Events {
			what = logs.Events
		}
		err = showStoredLogs(ctx, s, api, logs.WebservicePath(c.Tool, what), o)
	} else {
		err = &storeUnavailable{err}
	}
	var down *storeUnavailable
	switch {
	case errors.As(err, &down) && !o.windowed():
		warnFallback(s.ErrOut, down)
	case errors.As(err, &down):
		return fmt.Errorf("%w (the kubelet's logs have no --since, --until or --events)", down)
	case errors.Is(err, errNoStoredLines):
	default:
		return err
	}
	return c.Logs(ctx, webservice.LogOptions{Follow: o.Follow, Last: o.Last}, s.Out)
}
