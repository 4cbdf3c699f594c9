package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

func init() { nouns = append(nouns, newComponentsCommand) }

func newComponentsCommand(s *IOStreams) *cobra.Command {
	api := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "components",
		Short: "Declare your tool's jobs and web services in one file and deploy them",
		Long: `A components file (config_version: v1beta1) declares each of your tool's
workloads: where its image is built from (a git repository's ref, or another
component's build) and how it runs (the settings of 'toolforge jobs run').
'deployment create' builds what changed (reusing a build of the same commit)
and then creates or updates each job or web service; a push webhook with the
tool's deploy token does the same from your git host.`,
		Args: NoArgs,
	}
	api.addTo(cmd)
	config := &cobra.Command{Use: "config", Short: "Manage your tool's components file", Args: NoArgs}
	config.AddCommand(newComponentsConfigCreate(s, api), newComponentsConfigShow(s, api), newComponentsConfigGenerate(s, api), newComponentsConfigDelete(s, api), newComponentsConfigSchema(s))
	token := &cobra.Command{Use: "deploy-token", Short: "Manage the token that lets a webhook deploy your tool", Args: NoArgs}
	token.AddCommand(newComponentsTokenCommand(s, api, "create", http.MethodPost, "Create your tool's deploy token"),
		newComponentsTokenCommand(s, api, "show", http.MethodGet, "Show your tool's deploy token"),
		newComponentsTokenCommand(s, api, "refresh", http.MethodPut, "Replace your tool's deploy token by a new one (the old one stops working)"),
		newComponentsTokenCommand(s, api, "delete", http.MethodDelete, "Delete your tool's deploy token (webhooks stop working)"))
	dep := &cobra.Command{Use: "deployment", Short: "Deploy your tool's components, and see its deployments", Args: NoArgs}
	dep.AddCommand(newComponentsDeploymentCreate(s, api), newComponentsDeploymentList(s, api), newComponentsDeploymentShow(s, api), newComponentsDeploymentDelete(s, api))
	cmd.AddCommand(config, token, dep)
	return cmd
}

func (c *apiClient) componentsPath(rest string) string {
	return "/components/v1/tool/" + c.tool.Name + rest
}

// addJSONFlag is the original's --json: the same as -o json.
func addJSONFlag(cmd *cobra.Command, out *output) {
	var asJSON bool
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON (as -o json)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if asJSON {
			out.Format = OutputJSON
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return out.check()
	}
}

func newComponentsConfigCreate(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "create [FILE|-]",
		Short: "Create or replace your tool's components file",
		Long: `Create or replace your tool's components file from FILE (default
toolforge.yaml; - reads standard input). The file is checked before it is
sent: an unknown key is refused with its path. Nothing is deployed until
'toolforge components deployment create'.`,
		Example: "  toolforge components config create toolforge.yaml",
		Args:    MaximumArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "toolforge.yaml"
			if len(args) == 1 {
				name = args[0]
			}
			var data []byte
			var err error
			if name == "-" {
				data, err = io.ReadAll(io.LimitReader(s.In, 1<<20))
			} else {
				data, err = os.ReadFile(name)
			}
			if err != nil {
				return Usagef("read the components file: %v", err)
			}
			cfg, err := components.Parse(data)
			if err != nil {
				return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s: %w", name, err)}
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return c.call(cmd.Context(), http.MethodPost, c.componentsPath("/config"), cfg, nil)
		},
	}
}

func newComponentsConfigShow(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "Show your tool's components file", Args: NoArgs}
	readCommand(cmd, s, api, func(c *apiClient, _ []string) string { return c.componentsPath("/config") },
		func(r components.ConfigResponse) any { return r.Data },
		func(w io.Writer, _ bool, r components.ConfigResponse) error {
			out, err := r.Data.Marshal()
			if err != nil {
				return err
			}
			_, err = w.Write(out)
			return err
		})
	return cmd
}

func newComponentsConfigDelete(s *IOStreams, api *apiFlags) *cobra.Command {
	var sure bool
	cmd := &cobra.Command{
		Use: "delete", Short: "Delete your tool's components file (its jobs keep running)", Args: NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := Confirm(s, sure, "--yes-im-sure", "Delete the components file of your tool?"); err != nil {
				return err
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return c.call(cmd.Context(), http.MethodDelete, c.componentsPath("/config"), nil, nil)
		},
	}
	cmd.Flags().BoolVar(&sure, "yes-im-sure", false, "delete without asking")
	return cmd
}

func newComponentsTokenCommand(s *IOStreams, api *apiFlags, verb, method, short string) *cobra.Command {
	var sure bool
	cmd := &cobra.Command{Use: verb, Short: short, Args: NoArgs}
	out := addOutputFlag(cmd, "normal")
	addJSONFlag(cmd, out)
	if verb == "refresh" || verb == "delete" {
		cmd.Flags().BoolVar(&sure, "yes-im-sure", false, "do it without asking")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if verb == "refresh" || verb == "delete" {
			if err := Confirm(s, sure, "--yes-im-sure", fmt.Sprintf("%s your tool's deploy token? Webhooks using it stop working.", strings.ToUpper(verb[:1])+verb[1:])); err != nil {
				return err
			}
		}
		c, err := newAPIClient(s, api)
		if err != nil {
			return err
		}
		var resp components.TokenResponse
		if err := c.callWithMessages(cmd.Context(), method, c.componentsPath("/deploy-token"), nil, &resp, !out.data()); err != nil {
			return err
		}
		if out.data() {
			return out.print(s.Out, resp.Data)
		}
		if verb == "delete" {
			return nil
		}
		fmt.Fprintf(s.Out, "Token: %s\nCreation date: %s\nExpiration date: %s\n", resp.Data.Token, resp.Data.CreationDate, resp.Data.ExpirationDate)
		return nil
	}
	return cmd
}

type deploymentCreateOptions struct {
	req components.DeploymentRequest
}

func newComponentsDeploymentCreate(s *IOStreams, api *apiFlags) *cobra.Command {
	o := &deploymentCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Deploy your tool's components file",
		Long: `Deploy your tool's components file (fetched again from its source_url, if
it has one): each component's build is reused when one of the same commit and
options succeeded before (unless --force-build), else built; once every build
succeeded, each job or web service is created or updated (restarted with
--force-run even when unchanged). A failed build changes nothing. Jobs of
components that left the file are removed only with --prune. One deployment
runs at a time; follow it with 'deployment show ID'.`,
		Example: "  toolforge components deployment create\n  toolforge components deployment create --dry-run",
		Args:    NoArgs,
	}
	out := addOutputFlag(cmd, "normal")
	addJSONFlag(cmd, out)
	f := cmd.Flags()
	f.BoolVar(&o.req.ForceBuild, "force-build", false, "build every component again, even when a build of its commit exists")
	f.BoolVar(&o.req.ForceRun, "force-run", false, "restart every component, even when unchanged")
	f.BoolVar(&o.req.Prune, "prune", false, "remove the jobs of components that left the file since earlier deployments")
	f.BoolVar(&o.req.DryRun, "dry-run", false, "say what would be built and changed, and do nothing")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := newAPIClient(s, api)
		if err != nil {
			return err
		}
		if o.req.DryRun {
			var resp components.DryRunResponse
			if err := c.call(cmd.Context(), http.MethodPost, c.componentsPath("/deployment"), o.req, &resp); err != nil {
				return err
			}
			if out.data() {
				return out.print(s.Out, resp)
			}
			t := &table{headers: []string{"COMPONENT", "BUILD", "RUN"}}
			for _, ch := range resp.Data {
				t.add(ch.Component, ch.Build, ch.Run)
			}
			return t.render(s.Out, s.TTY)
		}
		var resp components.DeploymentResponse
		if err := c.callWithMessages(cmd.Context(), http.MethodPost, c.componentsPath("/deployment"), o.req, &resp, true); err != nil {
			return err
		}
		if out.data() {
			return out.print(s.Out, resp)
		}
		fmt.Fprintf(s.Out, "Deployment ID: %s\nSee its progress with: toolforge components deployment show %s\n", resp.Data.DeployID, resp.Data.DeployID)
		return nil
	}
	return cmd
}

// componentSummary is "name (build status/run status)" of each component.
func componentSummary(d components.Deployment) string {
	names := make([]string, 0, len(d.Builds))
	for n := range d.Builds {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = fmt.Sprintf("%s (build %s, run %s)", n, d.Builds[n].BuildStatus, d.Runs[n].RunStatus)
	}
	return strings.Join(names, ", ")
}

func newComponentsDeploymentList(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List your tool's deployments, oldest first", Args: NoArgs}
	out := readCommand(cmd, s, api, func(c *apiClient, _ []string) string { return c.componentsPath("/deployment") },
		func(r components.DeploymentListResponse) any { return r },
		func(w io.Writer, tty bool, r components.DeploymentListResponse) error {
			t := &table{headers: []string{"ID", "CREATED", "STATUS", "COMPONENTS"}}
			for _, d := range r.Data.Deployments {
				t.add(d.DeployID, d.CreationTime, d.Status, componentSummary(d))
			}
			return t.render(w, tty)
		})
	addJSONFlag(cmd, out)
	return cmd
}

func newComponentsDeploymentShow(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show ID", Short: "Show a deployment: its status and each component's build and run", Args: ExactArgs(1, "ID")}
	out := readCommand(cmd, s, api, func(c *apiClient, args []string) string {
		return c.componentsPath("/deployment/" + url.PathEscape(args[0]))
	},
		func(r components.DeploymentResponse) any { return r.Data },
		func(w io.Writer, tty bool, r components.DeploymentResponse) error {
			d := r.Data
			fmt.Fprintf(w, "Deployment ID: %s\nCreated: %s\nStatus: %s\n", d.DeployID, d.CreationTime, d.Status)
			if d.LongStatus != "" {
				fmt.Fprintf(w, "Message: %s\n", d.LongStatus)
			}
			t := &table{headers: []string{"COMPONENT", "BUILD ID", "BUILD", "RUN", "DETAILS"}}
			names := make([]string, 0, len(d.Builds))
			for n := range d.Builds {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				b, run := d.Builds[n], d.Runs[n]
				t.add(n, b.BuildID, b.BuildStatus, run.RunStatus, strings.Trim(b.BuildLongStatus+"; "+run.RunLongStatus, "; "))
			}
			return t.render(w, tty)
		})
	addJSONFlag(cmd, out)
	return cmd
}

func newComponentsDeploymentDelete(s *IOStreams, api *apiFlags) *cobra.Command {
	var sure bool
	cmd := &cobra.Command{
		Use: "delete ID", Short: "Delete a deployment's record (what it deployed keeps running)", Args: ExactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := Confirm(s, sure, "--yes-im-sure", fmt.Sprintf("Delete deployment %s?", args[0])); err != nil {
				return err
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return c.call(cmd.Context(), http.MethodDelete, c.componentsPath("/deployment/"+url.PathEscape(args[0])), nil, nil)
		},
	}
	cmd.Flags().BoolVar(&sure, "yes-im-sure", false, "delete without asking")
	return cmd
}

// generateSample is `config generate` for a tool without jobs: a file to
// start from, with the original's two notes.
const generateSample = `# NOTE: this is a sample file: replace the repository with your tool's
# NOTE: run 'toolforge components config create FILE' to use it
config_version: v1beta1
components:
  web:
    component_type: continuous
    build:
      repository: https://gitlab.wikimedia.org/toolforge-repos/sample-static-buildpack-app
      ref: main
    run:
      command: web
      port: 8000
      publish: true
`

func newComponentsConfigGenerate(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a components file for your tool's existing continuous and scheduled jobs",
		Long: `Print a components file made from your tool's existing continuous and
scheduled jobs (their run settings; each one's build repository is left for
you to fill in), or, without any, a sample. It changes nothing: check it, then
'toolforge components config create FILE'.`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return generateConfig(cmd.Context(), s, c)
		},
	}
}

// generateConfig prints a file of the tool's continuous and scheduled
// jobs, or the sample.
func generateConfig(ctx context.Context, s *IOStreams, c *apiClient) error {
	var list jobs.JobList
	if err := c.callWithMessages(ctx, http.MethodGet, c.jobsPath("/jobs"), nil, &list, false); err != nil {
		return err
	}
	cfg := components.Config{ConfigVersion: components.ConfigVersion, Components: map[string]components.Component{}}
	for _, info := range list.Jobs {
		j := info.Job
		comp := components.Component{
			Build: components.Build{Repository: "https://FILL-IN.example/your-repository.git", Ref: "main"},
			Run: components.Run{
				Command: j.Command, CPU: j.CPU, Memory: j.Memory, Port: j.Port, Replicas: j.Replicas,
				Schedule: j.Schedule, Retry: j.Retry, Timeout: j.Timeout,
			},
		}
		if j.Emails != "none" {
			comp.Run.Emails = j.Emails
		}
		if j.Publish {
			comp.Run.Publish = "/"
		}
		if hc := j.HealthCheck; hc != nil {
			comp.Run.HealthCheckHTTP, comp.Run.HealthCheckScript = hc.Path, hc.Script
		}
		switch j.Kind() {
		case jobs.Continuous:
			comp.ComponentType = components.TypeContinuous
		case jobs.Scheduled:
			comp.ComponentType = components.TypeScheduled
		default:
			continue // a one-off job is run, not deployed
		}
		if comp.ComponentType == components.TypeContinuous && comp.Run.Replicas == 1 {
			comp.Run.Replicas = 0
		}
		cfg.Components[j.Name] = comp
	}
	if len(cfg.Components) == 0 {
		_, err := io.WriteString(s.Out, generateSample)
		return err
	}
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintln(s.Out, "# NOTE: set each component's build repository (the jobs' images say not where they were built from)")
	_, err = s.Out.Write(out)
	return err
}

func newComponentsConfigSchema(s *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the components file's JSON Schema, for editors",
		Long: `Print the components file's JSON Schema (also served at
/components/v1/schema.json). Point your editor's YAML support at it for
completion and checks of toolforge.yaml.`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJSON(s.Out, components.JSONSchema())
		},
	}
}
