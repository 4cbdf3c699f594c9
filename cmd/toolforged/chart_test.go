package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/deploy"
)

const chartDir = "../../deploy/chart/toolforge"

// notInTheChart are the flags a Deployment of the chart has no use for,
// each with the reason.
var notInTheChart = map[string]string{
	"kubeconfig":    "in a cluster the service uses its ServiceAccount's credentials",
	"once":          "a Deployment runs continuously; one pass is a command an admin runs",
	"admission-url": "URL mode; the chart calls the webhooks through their Service",
	"force-migrate": "the migration's forced phase is a one-off (with --once) an admin runs, not a Deployment",
}

// fromFiles are flags naming a file the chart mounts from a value of the
// component's (a ConfigMap it makes, a Secret the admin makes), and that
// value's key.
var fromFiles = map[string]string{
	"accounts-file":               "accountsFile",
	"ldap-config":                 "ldapConfigSecret",
	"quotas-file":                 "quotas",
	"admission-config":            "settings",
	"builds-registry-credentials": "buildsRegistryCredentialsSecret",
}

// chartDefaults are values.yaml's defaults that differ from the binary's
// on purpose.
var chartDefaults = map[string]string{
	"log-format": "json: a cluster's log collector reads structured lines",
}

type chartValues struct {
	Flags      map[string]any            `json:"flags"`
	Components map[string]map[string]any `json:"components"`
}

// componentFlags is components.<name>.flags.
func (v chartValues) componentFlags(name string) map[string]any {
	f, _ := v.Components[name]["flags"].(map[string]any)
	return f
}

func loadValues(t *testing.T) chartValues {
	t.Helper()
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v chartValues
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// renderedArgs renders the chart (with an account source, and the
// notifier on, with an SMTP server) and returns each component's
// container arguments.
func renderedArgs(t *testing.T) map[string][]string {
	t.Helper()
	manifest, err := deploy.RenderChart(chartDir, map[string]any{
		"flags": map[string]any{"smtp-server": "mail.example.org:25"},
		"components": map[string]any{
			"accounts": map[string]any{"accountsFile": "tools: []\n"},
			"notifier": map[string]any{"enabled": true},
		},
	}, "toolforge-system")
	if err != nil {
		t.Fatal(err)
	}
	args := map[string][]string{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if d, ok := obj.(*appsv1.Deployment); err == nil && ok {
			a := d.Spec.Template.Spec.Containers[0].Args
			args[a[0]] = a[1:]
		}
		// A service in a DaemonSet's pod (the logs ingestion beside each
		// node's collector): its toolforged container (the image's
		// entrypoint, no command of its own).
		if d, ok := obj.(*appsv1.DaemonSet); err == nil && ok {
			for _, c := range d.Spec.Template.Spec.Containers {
				if len(c.Command) == 0 && len(c.Args) > 0 {
					args[c.Args[0]] = c.Args[1:]
				}
			}
		}
	}
	return args
}

// notComponents are services the chart does not run as a Deployment of
// their own, each with the reason.
var notComponents = map[string]string{
	"backup": "etcd's backups run beside etcd (its endpoints and client certificate are the control plane's), never inside the cluster they back up: a broken cluster must not stop its own backups or restore",
}

func TestEveryServiceIsAComponentOfTheChart(t *testing.T) {
	args := renderedArgs(t)
	var missing []string
	for _, s := range services() {
		if _, ok := args[s.Name()]; !ok && notComponents[s.Name()] == "" {
			missing = append(missing, s.Name())
		}
	}
	if len(missing) > 0 {
		t.Fatalf("toolforged services without a Deployment in the chart: %v (add components.<name> to values.yaml and values.schema.json, templates/_<name>.tpl and rbac-<name>.yaml)", missing)
	}
}

func TestEveryFlagOfEveryServiceHasAValueInTheChart(t *testing.T) {
	vals := loadValues(t)
	args := renderedArgs(t)
	root := daemon.NewRootCommand(services()...)
	for _, s := range services() {
		if notComponents[s.Name()] != "" {
			continue
		}
		t.Run(s.Name(), func(t *testing.T) {
			cmd, _, err := root.Find([]string{s.Name()})
			if err != nil {
				t.Fatal(err)
			}
			// The chart's arguments are ones the service accepts.
			fs := pflag.NewFlagSet(s.Name(), pflag.ContinueOnError)
			fs.AddFlagSet(cmd.Flags())
			if err := fs.Parse(args[s.Name()]); err != nil {
				t.Fatalf("the chart's arguments %v: %v", args[s.Name()], err)
			}
			own := vals.componentFlags(s.Name())
			var missing []string
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				v, inValues := own[f.Name]
				if !inValues {
					v, inValues = vals.Flags[f.Name]
				}
				switch {
				case inValues:
					if v != nil && flagValue(v) != f.DefValue && chartDefaults[f.Name] == "" {
						t.Errorf("--%s: values.yaml has %q, the binary's default is %q (say why in chartDefaults, or align them)", f.Name, flagValue(v), f.DefValue)
					}
				case fs.Changed(f.Name):
					// Set by the chart itself (an address, the namespace).
				case fromFiles[f.Name] != "":
					if _, ok := vals.Components[s.Name()][fromFiles[f.Name]]; !ok {
						t.Errorf("--%s comes from components.%s.%s, which values.yaml lacks", f.Name, s.Name(), fromFiles[f.Name])
					}
				case notInTheChart[f.Name] != "":
				default:
					missing = append(missing, f.Name)
				}
			})
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("flags of toolforged %s with no value in the chart: --%s (add them to components.%s.flags in values.yaml and values.schema.json)", s.Name(), strings.Join(missing, ", --"), s.Name())
			}
		})
	}
}

// flagValue is a value of values.yaml as pflag writes a default.
func flagValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprint(v)
}

func TestTheValuesSchemaKnowsEveryFlagOfTheValues(t *testing.T) {
	data, err := os.ReadFile(chartDir + "/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Flags      struct{ Properties map[string]any } `json:"flags"`
			Components struct {
				Properties map[string]struct {
					Properties struct {
						Flags struct{ Properties map[string]any } `json:"flags"`
					} `json:"properties"`
				} `json:"properties"`
			} `json:"components"`
		} `json:"properties"`
	}
	if err := yaml.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	vals := loadValues(t)
	same := func(where string, schemaKeys map[string]any, valueKeys map[string]any) {
		for k := range valueKeys {
			if _, ok := schemaKeys[k]; !ok {
				t.Errorf("%s: %s is in values.yaml, not in values.schema.json", where, k)
			}
		}
		for k := range schemaKeys {
			if _, ok := valueKeys[k]; !ok {
				t.Errorf("%s: %s is in values.schema.json, not in values.yaml", where, k)
			}
		}
	}
	same("flags", schema.Properties.Flags.Properties, vals.Flags)
	for name := range vals.Components {
		same("components."+name+".flags", schema.Properties.Components.Properties[name].Properties.Flags.Properties, vals.componentFlags(name))
	}
}
