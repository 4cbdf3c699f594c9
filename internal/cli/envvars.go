package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/envvars"
)

func init() { nouns = append(nouns, newEnvvarsCommand) }

func newEnvvarsCommand(s *IOStreams) *cobra.Command {
	api := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "envvars",
		Short: "Manage your tool's environment variables (set in all its pods)",
		Long: `Environment variables are set in every pod of your tool: jobs, web services and
shells. Use them for settings and secrets (API tokens): values are stored as a
Kubernetes Secret in your tool's namespace and hidden in 'list' unless asked.
New values reach pods started after the change.`,
		Args: NoArgs,
	}
	api.addTo(cmd)
	cmd.AddCommand(
		newEnvvarsCreateCommand(s, api),
		newEnvvarsListCommand(s, api),
		newEnvvarsShowCommand(s, api),
		newEnvvarsDeleteCommand(s, api),
		newEnvvarsQuotaCommand(s, api),
	)
	return cmd
}

func newEnvvarsCreateCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		ValidArgsFunction: completeFirstArg(envvarNames(s, api)),
		Use:               "create NAME [VALUE]",
		Short:             "Create an environment variable, or replace its value",
		Long: `Create an environment variable, or replace its value. Without VALUE the value
is read from standard input (one trailing newline dropped), which keeps it out
of the shell's history and allows values longer than a command line.`,
		Example: "  toolforge envvars create MY_API_TOKEN s3cr3t\n  toolforge envvars create MY_KEY < key.pem",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return Usagef("%s wants NAME and optionally VALUE, got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envvars.ValidateName(args[0]); err != nil {
				return Usagef("%v", err)
			}
			if len(args) == 1 {
				data, err := io.ReadAll(io.LimitReader(s.In, envvars.MaxValue+2))
				if err != nil {
					return fmt.Errorf("read the value from stdin: %w", err)
				}
				args = append(args, strings.TrimSuffix(string(data), "\n"))
			}
			if err := envvars.ValidateValue(args[1]); err != nil {
				return Usagef("%v", err)
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var out envvars.EnvvarResponse
			return c.call(cmd.Context(), http.MethodPost, c.envvarsPath("/envvars"), envvars.CreateRequest{Name: args[0], Value: args[1]}, &out)
		},
	}
}

func newEnvvarsListCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var show bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your environment variables (values hidden unless --show-values)",
		Args:  NoArgs,
	}
	out := addOutputFlag(cmd, "normal")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.check(); err != nil {
			return err
		}
		c, err := newAPIClient(s, api)
		if err != nil {
			return err
		}
		path := c.envvarsPath("/envvars")
		if show {
			path += "?show_values=true"
		}
		var resp envvars.ListResponse
		if err := c.call(cmd.Context(), http.MethodGet, path, nil, &resp); err != nil {
			return err
		}
		if out.data() {
			if resp.Envvars == nil {
				resp.Envvars = []envvars.Envvar{}
			}
			return out.print(s.Out, resp.Envvars)
		}
		return writeEnvvars(s.Out, s.TTY, resp.Envvars, show)
	}
	cmd.Flags().BoolVar(&show, "show-values", false, "show the values too")
	return cmd
}

// hiddenValue stands in for a value list does not show.
const hiddenValue = "********"

// writeEnvvars is the name/value table of list, show and delete.
func writeEnvvars(w io.Writer, tty bool, list []envvars.Envvar, show bool) error {
	t := &table{headers: []string{"name", "value"}}
	for _, e := range list {
		v := hiddenValue
		if show {
			v = e.Value
		}
		t.add(e.Name, v)
	}
	return t.render(w, tty)
}

func newEnvvarsShowCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an environment variable and its value",
		Long: `Show an environment variable: its name and value, as list --show-values
does. -o json prints {"name": ..., "value": ...} for scripts, e.g.
  toolforge envvars show MY_TOKEN -o json | jq -r .value`,
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(envvarNames(s, api)),
	}
	readCommand(cmd, s, api,
		func(c *apiClient, args []string) string { return c.envvarsPath("/envvars/" + url.PathEscape(args[0])) },
		func(r envvars.EnvvarResponse) any { return r.Envvar },
		func(w io.Writer, tty bool, r envvars.EnvvarResponse) error {
			return writeEnvvars(w, tty, []envvars.Envvar{r.Envvar}, true)
		})
	return cmd
}

func newEnvvarsDeleteCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var sure bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an environment variable, printing what it was",
		Long: `Delete an environment variable and print it (name and value) as it was, so
that it can be made again. On a terminal it asks first; elsewhere it needs
--yes-im-sure.`,
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(envvarNames(s, api)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := Confirm(s, sure, "--yes-im-sure", fmt.Sprintf("Delete envvar %s?", args[0])); err != nil {
				return err
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var resp envvars.EnvvarResponse
			if err := c.callWithMessages(cmd.Context(), http.MethodDelete, c.envvarsPath("/envvars/"+url.PathEscape(args[0])), nil, &resp, false); err != nil {
				return err
			}
			return writeEnvvars(s.Out, s.TTY, []envvars.Envvar{resp.Envvar}, true)
		},
	}
	cmd.Flags().BoolVar(&sure, "yes-im-sure", false, "delete without asking")
	return cmd
}

func newEnvvarsQuotaCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show how many environment variables you use and how many more you may have",
		Args:  NoArgs,
	}
	readCommand(cmd, s, api,
		func(c *apiClient, _ []string) string { return c.envvarsPath("/quota") },
		func(r envvars.QuotaResponse) any { return r.Quota },
		func(w io.Writer, tty bool, r envvars.QuotaResponse) error { return writeEnvvarsQuota(w, tty, r.Quota) })
	return cmd
}

// writeEnvvarsQuota shows each quota as the original does: what is used
// and what is still available.
func writeEnvvarsQuota(w io.Writer, tty bool, q envvars.Quota) error {
	t := &table{headers: []string{"quota", "used", "available"}}
	t.add("envvars", fmt.Sprint(q.Count), fmt.Sprint(max(q.MaxCount-q.Count, 0)))
	t.add("bytes (names and values)", fmt.Sprint(q.Bytes), fmt.Sprint(max(q.MaxBytes-q.Bytes, 0)))
	return t.render(w, tty)
}
