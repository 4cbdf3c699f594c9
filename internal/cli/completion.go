package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/envvars"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// Dynamic shell completion (cobra's __complete): the names a command takes
// are asked of the API as the tool. A completion that cannot reach the API
// offers nothing rather than an error in the middle of the user's line.

// completionTimeout bounds the API call behind one press of TAB.
const completionTimeout = 5 * time.Second

// completeFirstArg completes only the first positional argument, with the
// names list returns.
func completeFirstArg(list func(ctx context.Context) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeNames(cmd, toComplete, list)
	}
}

// completeNames offers the names that start with toComplete.
func completeNames(cmd *cobra.Command, toComplete string, list func(ctx context.Context) ([]string, error)) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	names, err := list(ctx)
	if err != nil {
		cobra.CompDebugln("completion: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// quietClient is an API client whose messages go nowhere: the shell shows
// a completion's stderr on the user's line.
func quietClient(s *IOStreams, api *apiFlags) (*apiClient, error) {
	q := *s
	q.ErrOut = io.Discard
	return newAPIClient(&q, api)
}

// jobNames lists the tool's jobs.
func jobNames(s *IOStreams, api *apiFlags) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		c, err := quietClient(s, api)
		if err != nil {
			return nil, err
		}
		var list jobs.JobList
		if err := c.call(ctx, http.MethodGet, c.jobsPath("/jobs"), nil, &list); err != nil {
			return nil, err
		}
		var out []string
		for _, j := range list.Jobs {
			out = append(out, j.Name)
		}
		return out, nil
	}
}

// imageNames lists the catalogue's short names and aliases.
func imageNames(s *IOStreams, api *apiFlags) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		c, err := quietClient(s, api)
		if err != nil {
			return nil, err
		}
		var list jobs.ImageList
		if err := c.call(ctx, http.MethodGet, c.jobsPath("/images"), nil, &list); err != nil {
			return nil, err
		}
		var out []string
		for _, img := range list.Images {
			out = append(out, img.Shortname)
		}
		return out, nil
	}
}

// envvarNames lists the tool's envvars (names only).
func envvarNames(s *IOStreams, api *apiFlags) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		c, err := quietClient(s, api)
		if err != nil {
			return nil, err
		}
		var list envvars.ListResponse
		if err := c.call(ctx, http.MethodGet, c.envvarsPath("/envvars"), nil, &list); err != nil {
			return nil, err
		}
		var out []string
		for _, e := range list.Envvars {
			out = append(out, e.Name)
		}
		return out, nil
	}
}
