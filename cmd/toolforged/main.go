// Command toolforged runs the platform's services.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "toolforged",
		Short:         "The Toolforge platform services",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
