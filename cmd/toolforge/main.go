// Command toolforge is the tool maintainers' CLI.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "toolforge",
		Short:         "Run web services and jobs for your tool on Toolforge",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
