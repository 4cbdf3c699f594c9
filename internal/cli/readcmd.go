package cli

import (
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

// readCommand makes cmd a read command of the API: one GET of path, then
// the response as data (-o json|yaml: what data picks from it) or as the
// command's human output (show).
func readCommand[R any](cmd *cobra.Command, s *IOStreams, api *apiFlags, path func(c *apiClient, args []string) string, data func(R) any, show func(w io.Writer, tty bool, r R) error) *output {
	out := addOutputFlag(cmd, "normal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		c, err := newAPIClient(s, api)
		if err != nil {
			return err
		}
		var resp R
		if err := c.call(cmd.Context(), http.MethodGet, path(c, args), nil, &resp); err != nil {
			return err
		}
		if out.data() {
			return out.print(s.Out, data(resp))
		}
		return show(s.Out, s.TTY, resp)
	}
	return out
}
