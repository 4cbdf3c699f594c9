package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/kubecontext"
	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// migrateFlags are the flags of both migrate verbs.
type migrateFlags struct {
	From, To string
}

func (f *migrateFlags) addTo(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.To, "to", tenancy.ContextName, "kubeconfig context (cluster) to move to")
	cmd.Flags().StringVar(&f.From, "from", "", "kubeconfig context to move from (default: the current one; when that is --to already, your only other one)")
}

// migrationTools are the tool on the cluster it leaves and on the one it
// moves to. From is the current context, or, when the tool is on To
// already (its web service moved, or it switched by hand), the one other
// context of its kubeconfig: so `webservice migrate` and `jobs migrate`
// work in either order, each moving what is left.
func migrationTools(f *migrateFlags) (from, to *Tool, err error) {
	cur, err := CurrentTool()
	if err != nil {
		return nil, nil, err
	}
	if to, err = ToolIn(f.To); err != nil {
		return nil, nil, fmt.Errorf("--to %s: %w (has the accounts controller of that cluster provisioned your tool yet?)", f.To, err)
	}
	name := f.From
	if name == "" {
		name = cur.Context
	}
	if name == f.To && f.From == "" {
		if name, err = otherContext(cur, f.To); err != nil {
			return nil, nil, err
		}
	}
	if from, err = ToolIn(name); err != nil {
		return nil, nil, fmt.Errorf("--from %s: %w", name, err)
	}
	if from.Name != to.Name {
		return nil, nil, fmt.Errorf("context %q is tool %s and context %q is tool %s: a migration moves one tool", from.Context, from.Name, to.Context, to.Name)
	}
	return from, to, nil
}

// otherContext is the one context of the kubeconfig, besides to, that is
// this tool's; to itself when there is none.
func otherContext(cur *Tool, to string) (string, error) {
	raw, err := clientcmd.LoadFromFile(cur.Kubeconfig)
	if err != nil {
		return "", err
	}
	var others []string
	for name := range raw.Contexts {
		if name == to {
			continue
		}
		if t, err := ToolIn(name); err == nil && t.Name == cur.Name {
			others = append(others, name)
		}
	}
	sort.Strings(others)
	switch len(others) {
	case 0:
		return to, nil
	case 1:
		return others[0], nil
	}
	return "", Usagef("you are on %s already and have several other contexts (%v): say which to move from with --from", to, others)
}

// switchContext makes ctx the tool's current context.
func switchContext(t *Tool) func(string) (bool, error) {
	return func(ctx string) (bool, error) {
		home, err := kubecontext.OpenOwnHome(t.Home)
		if err != nil {
			return false, err
		}
		defer home.Close()
		_, changed, err := kubecontext.Use(home, ctx)
		return changed, err
	}
}

func newWebserviceMigrate(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate [TYPE]",
		Short: "Move the web service to another cluster (default: toolforge) and switch your context there",
		Long: `Move the running web service to the cluster of another kubeconfig context: stop
it on the cluster it runs on, switch your current context, start it on the new
cluster with the same type, CPU, memory and replicas (or the --cpu, --mem,
--replicas and TYPE given here).

Before anything stops, the new cluster is asked whether the web service would
start there (your tool provisioned, the type in its catalogue, the settings
within its limits and quota); if not, nothing changes and the error says what
to change. If the start on the new cluster fails, the web service is started
again where it ran and your context switched back.

Without a running web service it prints "No webservice running." and does
nothing; on the new cluster already, it says so and does nothing.`,
		Example: `  webservice migrate
  webservice migrate --mem 1Gi      # the new cluster allows less
  webservice migrate --to default   # back to the old cluster`,
		Args: typeArg(o),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			return runWebserviceMigrate(cmd.Context(), s, o, f)
		},
	}
	f.addTo(cmd)
	cmd.Flags().StringVar(&o.CPU, "cpu", "", "CPU limit of each pod on the new cluster (default: as it runs)")
	cmd.Flags().StringVar(&o.Mem, "mem", "", "memory limit of each pod on the new cluster (default: as it runs)")
	cmd.Flags().IntVar(&o.Replicas, "replicas", 0, "number of pods on the new cluster (default: as it runs)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", webservice.DefaultTimeout, "how long to wait for pods to stop and to start")
	addDomainFlag(cmd.Flags(), o)
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

func runWebserviceMigrate(ctx context.Context, s *IOStreams, o *webserviceOptions, f *migrateFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	from, to, err := migrationTools(f)
	if err != nil {
		return err
	}
	toWeb, err := webserviceClientFor(s, o, to)
	if err != nil {
		return err
	}
	alreadyLine := func() error {
		run, err := toWeb.Running(ctx)
		switch {
		case err != nil:
			return err
		case run != nil:
			fmt.Fprintf(s.ErrOut, "Webservice is running on %s Kubernetes cluster.\n", to.Context)
		default:
			fmt.Fprintln(s.ErrOut, "No webservice running.")
		}
		return nil
	}
	if from.Context == to.Context {
		return alreadyLine()
	}
	fromWeb, err := webserviceClientFor(s, o, from)
	if err != nil {
		return err
	}
	fromKube, err := from.Kube()
	if err != nil {
		return err
	}
	toKube, err := to.Kube()
	if err != nil {
		return err
	}
	flags := webservice.Choices{Type: o.Type, CPU: o.CPU, Mem: o.Mem}
	if o.replicasSet {
		flags.Replicas = strconv.Itoa(o.Replicas)
	}
	res, err := migration.Run(ctx, &migration.Plan{
		Tool:     from.Name,
		From:     migration.Side{Context: from.Context, Web: fromWeb, Kube: fromKube, Namespace: from.Namespace},
		To:       migration.Side{Context: to.Context, Web: toWeb, Kube: toKube, Namespace: to.Namespace},
		WebFlags: flags,
		Switch:   switchContext(from),
		Out:      s.Out, ErrOut: s.ErrOut,
	})
	if err != nil {
		var refused *migration.RefusedError
		if errors.As(err, &refused) {
			err = fmt.Errorf("%w\n(webservice migrate takes --cpu, --mem, --replicas and TYPE for the new cluster)", err)
		}
		return err
	}
	if res.Nothing() {
		return alreadyLine()
	}
	return nil
}

func newJobsMigrateCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move your scheduled and continuous jobs to another cluster (default: toolforge) and switch your context there",
		Long: `Move every scheduled and continuous job (its definition) to the cluster of
another kubeconfig context: create each on the new cluster, then delete it from
the old one, then switch your current context. Finished one-off jobs stay where
they ran; one still running stays too, and is named.

Before anything changes, the new cluster's API checks every definition (image
in its catalogue, limits, quota) and all of them together must fit the quota;
if not, nothing changes and the error says what to change. If a step fails,
what was done is undone: the jobs run where they ran, on the context you had.

Each cluster's API is found from that cluster (--api-url and
$TOOLFORGE_API_URL name one API, and are not used here).`,
		Example: `  toolforge jobs migrate
  toolforge jobs migrate --to default   # back to the old cluster`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if api.URL != "" {
				return Usagef("--api-url names one API; jobs migrate talks to two clusters and finds each one's API from it")
			}
			return runJobsMigrate(cmd.Context(), s, f)
		},
	}
	f.addTo(cmd)
	return cmd
}

func runJobsMigrate(ctx context.Context, s *IOStreams, f *migrateFlags) error {
	from, to, err := migrationTools(f)
	if err != nil {
		return err
	}
	if from.Context == to.Context {
		fmt.Fprintf(s.ErrOut, "No jobs to migrate: you are on %s and have no other context.\n", to.Context)
		return nil
	}
	sides := make([]migration.Side, 2)
	for i, t := range []*Tool{from, to} {
		api, err := newClusterAPIClient(s, t)
		if err != nil {
			return err
		}
		kube, err := t.Kube()
		if err != nil {
			return err
		}
		sides[i] = migration.Side{Context: t.Context, Jobs: &apiJobs{c: api}, Kube: kube, Namespace: t.Namespace}
	}
	res, err := migration.Run(ctx, &migration.Plan{
		Tool: from.Name, From: sides[0], To: sides[1],
		Switch: switchContext(from),
		Out:    s.Out, ErrOut: s.ErrOut,
	})
	if err != nil {
		return err
	}
	if res.Nothing() {
		fmt.Fprintf(s.ErrOut, "No jobs to migrate on %s.\n", from.Context)
	}
	return nil
}

// apiJobs are a tool's jobs on one cluster, through that cluster's API.
type apiJobs struct{ c *apiClient }

func (a *apiJobs) List(ctx context.Context) ([]jobs.Info, error) {
	var list jobs.JobList
	if err := a.c.callWithMessages(ctx, http.MethodGet, a.c.jobsPath("/jobs"), nil, &list, false); err != nil {
		return nil, err
	}
	return list.Jobs, nil
}

func (a *apiJobs) apply(ctx context.Context, j *jobs.Job, dryRun bool) (string, error) {
	path := a.c.jobsPath("/jobs")
	if dryRun {
		path += "?dry_run=true"
	}
	var out jobs.ApplyResponse
	if err := a.c.callWithMessages(ctx, http.MethodPatch, path, j, &out, false); err != nil {
		return "", err
	}
	return out.Result, nil
}

func (a *apiJobs) Check(ctx context.Context, j *jobs.Job) (string, error) {
	return a.apply(ctx, j, true)
}
func (a *apiJobs) Apply(ctx context.Context, j *jobs.Job) (string, error) {
	return a.apply(ctx, j, false)
}

func (a *apiJobs) Delete(ctx context.Context, name string) error {
	err := a.c.callWithMessages(ctx, http.MethodDelete, a.c.jobsPath("/jobs/"+url.PathEscape(name)), nil, nil, false)
	if isNotFound(err) {
		return nil
	}
	return err
}
