package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Machine-readable output formats: every read command takes them with -o.
const (
	OutputJSON = "json"
	OutputYAML = "yaml"
)

// output is a read command's -o/--output: the command's own (human)
// formats, the first of which is the default, then json and yaml.
type output struct {
	Format  string
	formats []string
}

// addOutputFlag gives cmd -o/--output with the human formats (the first
// is the default) and json and yaml, completed by the shell.
func addOutputFlag(cmd *cobra.Command, human ...string) *output {
	o := &output{formats: append(slices.Clone(human), OutputJSON, OutputYAML)}
	cmd.Flags().StringVarP(&o.Format, "output", "o", human[0], "output format: "+strings.Join(o.formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(o.formats, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// check refuses a format the command does not have, before the API is
// called (usage error, exit 2).
func (o *output) check() error {
	if !slices.Contains(o.formats, o.Format) {
		return Usagef("-o %q: want one of %s", o.Format, strings.Join(o.formats, ", "))
	}
	return nil
}

// data says whether the format is json or yaml.
func (o *output) data() bool { return o.Format == OutputJSON || o.Format == OutputYAML }

// print writes v as JSON (indented) or YAML, as the format asks; YAML
// follows the JSON field names, so both read the same to a script.
func (o *output) print(w io.Writer, v any) error {
	return printData(w, o.Format, v)
}

func printData(w io.Writer, format string, v any) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case OutputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("output format %q is not json or yaml", format)
}

// Output is -o/--output for other command trees (toolforge-admin): the
// same formats and printing as toolforge's read commands.
type Output = output

// AddOutputFlag gives cmd -o/--output: the human formats (the first is the
// default), then json and yaml.
func AddOutputFlag(cmd *cobra.Command, human ...string) *Output { return addOutputFlag(cmd, human...) }

// Check refuses a format the command does not have (usage error).
func (o *output) Check() error { return o.check() }

// Data says whether the format is json or yaml.
func (o *output) Data() bool { return o.data() }

// Print writes v as JSON or YAML, as the format asks.
func (o *output) Print(w io.Writer, v any) error { return o.print(w, v) }
