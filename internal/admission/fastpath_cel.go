package admission

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// condition is one named part of what makes a pod complete and valid.
type condition struct {
	name string
	expr string
}

// fastPathConditions are what a pod needs to take the fast path, each
// condition written from the same constants as the rule it stands for:
// about the pod, and about each container c (init containers too), with
// u the tool's uid; storage conditions apply unless the pod is labelled
// mount-storage=none.
type fastPathConditions struct {
	pod, container               []condition
	storagePod, storageContainer []condition
}

// CEL fragments about the pod under review.
var (
	celToolName  = fmt.Sprintf("request.namespace.substring(%d)", len(tenancy.Namespace("")))
	celMountNone = `object.metadata.?labels[?` + strconv.Quote(tenancy.MountStorageLabel) + `].orValue('') == ` + strconv.Quote(MountNone)
)

func (f fastPath) conditions() fastPathConditions {
	c := fastPathConditions{
		pod: []condition{
			{"identity: the namespace is a tool's, enforcing Pod Security restricted", `u > 0`},
			// Optional selection (x.?f.orValue(d)) resolves each field once,
			// where has(x.f) && x.f resolves it twice; u > 0, so a missing
			// id never equals it.
			{"identity: the pod runs as the tool's uid, gid and fsGroup (and no other supplemental group), non-root, seccomp RuntimeDefault",
				`[object.spec.?securityContext.orValue({})].all(s, ` +
					`s.?runAsUser.orValue(0) == u && s.?runAsGroup.orValue(0) == u && s.?fsGroup.orValue(0) == u && ` +
					`s.?supplementalGroups.orValue([]).all(g, g == u) && ` +
					`s.?runAsNonRoot.orValue(false) == true && ` +
					`s.?seccompProfile.?type.orValue('') == ` + strconv.Quote(string(corev1.SeccompProfileTypeRuntimeDefault)) + `)`},
			// The ServiceAccount admission plugin, before webhooks, has set
			// the name ("default" when none was given).
			{"serviceaccount: the pod runs as the namespace's default ServiceAccount or the tool's observer ServiceAccount",
				`object.spec.?serviceAccountName.orValue(` + strconv.Quote(defaultServiceAccount) + `) in [` + strconv.Quote(defaultServiceAccount) + `, ` +
					celToolName + ` + ` + strconv.Quote(tenancy.ObserverServiceAccount("")) + `]`},
			{"identity: ephemeral containers only come through their subresource, which always calls the webhook",
				`size(object.spec.?ephemeralContainers.orValue([])) == 0`},
			// Image volumes (volumes[].image.reference) are images too.
			{"registry: every image volume's image is from " + strings.Join(f.Registries, ", "),
				`object.spec.?volumes.orValue([]).all(v, !has(v.image) || (has(v.image.reference) && ` + celAllowedImage("v.image.reference", f.Registries) + `))`},
			{"volumes: the mount-storage label, if any, is all or none",
				`object.metadata.?labels[?` + strconv.Quote(tenancy.MountStorageLabel) + `].orValue(` + strconv.Quote(MountAll) + `) in [` + strconv.Quote(MountAll) + `, ` + strconv.Quote(MountNone) + `]`},
		},
		container: []condition{
			{"identity: the container forbids escalation, drops ALL capabilities, adds none, and runs as no other uid or gid",
				`[c.?securityContext.orValue({})].all(s, ` +
					`s.?allowPrivilegeEscalation.orValue(true) == false && ` +
					`'ALL' in s.?capabilities.?drop.orValue([]) && size(s.?capabilities.?add.orValue([])) == 0 && ` +
					`s.?runAsUser.orValue(u) == u && s.?runAsGroup.orValue(u) == u)`},
			{"registry: the image is from " + strings.Join(f.Registries, ", "), `has(c.image) && ` + celAllowedImage("c.image", f.Registries)},
			{"envvars: the container takes the tool's envvars Secret",
				`c.?envFrom.orValue([]).exists(e, e.?secretRef.?name.orValue('') == ` + strconv.Quote(tenancy.EnvvarsSecret) + `)`},
		},
	}
	// Every use of a read-only claim is read-only, with mount-storage=none
	// too: the only volume of it is the platform's (named after it), read-only,
	// and every mount of that volume is read-only.
	for _, s := range f.Storage {
		if !s.ReadOnly {
			continue
		}
		claim := strconv.Quote(s.Claim)
		c.pod = append(c.pod, condition{"volumes: claim " + s.Claim + " is read-only: its only volume is " + s.Claim + ", read-only",
			`object.spec.?volumes.orValue([]).all(v, v.?persistentVolumeClaim.?claimName.orValue('') != ` + claim +
				` || (v.name == ` + claim + ` && v.persistentVolumeClaim.?readOnly.orValue(false) == true))`})
		c.container = append(c.container, condition{"volumes: the container mounts claim " + s.Claim + " read-only, if at all",
			`c.?volumeMounts.orValue([]).all(m, m.name != ` + claim + ` || m.?readOnly.orValue(false) == true)`})
	}
	for _, s := range f.Storage {
		claim := strconv.Quote(s.Claim)
		if s.Path == "" {
			c.storagePod = append(c.storagePod, condition{"volumes: claim " + s.Claim + " is mounted at different paths by different tools: no pod that mounts storage takes the fast path", "false"})
			continue
		}
		c.storagePod = append(c.storagePod, condition{"volumes: claim " + s.Claim + " is a volume",
			`object.spec.?volumes.orValue([]).exists(v, v.name == ` + claim + ` && v.?persistentVolumeClaim.?claimName.orValue('') == ` + claim + `)`})
		mount := `m.name == ` + claim + ` && m.mountPath == ` + celPath(s.Path)
		if s.ReadOnly {
			mount += ` && m.?readOnly.orValue(false) == true`
		}
		c.storageContainer = append(c.storageContainer, condition{"volumes: the container mounts claim " + s.Claim + " at " + s.Path,
			`c.?volumeMounts.orValue([]).exists(m, ` + mount + `)`})
		if s.Home {
			env := func(name string) string {
				return `e.name == ` + strconv.Quote(name) + ` && e.?value.orValue('') == ` + celPath(s.Path)
			}
			c.storageContainer = append(c.storageContainer, condition{"volumes: " + EnvHome + " and " + EnvToolDataDir + " are the home, " + s.Path,
				`c.?env.orValue([]).exists(e, ` + env(EnvHome) + `) && c.?env.orValue([]).exists(e, ` + env(EnvToolDataDir) + `)`})
		}
	}
	return c
}

// celAllowedImage says image (a CEL string) is from one of registries as
// images.RegistryHost tells: a host is the first path component when it
// has a dot or a port or is localhost, so for such a registry the image
// starts with it and a slash; docker.io also takes images that name no
// host.
func celAllowedImage(image string, registries []string) string {
	var any []string
	for _, r := range registries {
		switch {
		case r == images.RegistryHost("nginx"): // docker.io, where a name without a host is from
			first := image + `.substring(0, ` + image + `.indexOf('/'))`
			any = append(any, image+`.startsWith(`+strconv.Quote(r+"/")+`)`,
				`!`+image+`.contains('/')`,
				`!(`+first+`.contains('.') || `+first+`.contains(':') || `+first+` == 'localhost')`)
		case images.RegistryHost(r+"/x") == r:
			any = append(any, image+`.startsWith(`+strconv.Quote(r+"/")+`)`)
		}
		// Any other name is never an image's registry.
	}
	if len(any) == 0 {
		return "false"
	}
	return "(" + strings.Join(any, " || ") + ")"
}

// celPath is a mount path template as a CEL string expression.
func celPath(template string) string {
	var parts []string
	for i, p := range strings.Split(template, toolPlaceholder) {
		if i > 0 {
			parts = append(parts, celToolName)
		}
		if p != "" {
			parts = append(parts, strconv.Quote(p))
		}
	}
	return strings.Join(parts, " + ")
}

// celUIDs is the uid map as a CEL map literal (the API server builds a
// constant once, however many tools).
func celUIDs(uids map[string]int64) string {
	keys := make([]string, 0, len(uids))
	for k := range uids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", strconv.Quote(k), uids[k])
	}
	b.WriteString("}")
	return b.String()
}

// needsWebhook is the pods webhook's match condition: call it for
// ephemeral containers, and for a pod unless it takes the fast path. Match
// conditions must all hold for a call, so "anything missing or wrong" is
// one condition, each part on its own line under its name, as `kubectl get
// mutatingwebhookconfiguration -o yaml` shows it. The API server evaluates
// it for every tool pod: the tool's uid is looked up once (bound to u by a
// one-element all()), the containers are walked once.
func needsWebhook(f fastPath) admissionregistrationv1.MatchCondition {
	c := f.conditions()
	var b strings.Builder
	w := func(indent string, conds []condition) {
		for i, x := range conds {
			if i > 0 {
				b.WriteString(" &&\n")
			}
			// A comment ends at a line break: keep a name (it holds paths) on one.
			fmt.Fprintf(&b, "%s// %s\n%s(%s)", indent, strings.Join(strings.Fields(x.name), " "), indent, x.expr)
		}
	}
	eachContainer := func(indent string, conds []condition) {
		for i, list := range []string{"containers", "initContainers"} {
			if i > 0 {
				b.WriteString(" &&\n")
			}
			b.WriteString(indent + "object.spec.?" + list + ".orValue([]).all(c,\n")
			w(indent+"  ", conds)
			b.WriteString("\n" + indent + ")")
		}
	}
	// request carries subResource only when there is one.
	b.WriteString("has(request.subResource) || ![" + celUIDs(f.UIDs) + "[?request.namespace].orValue(0)].all(u,\n")
	w("  ", c.pod)
	b.WriteString(" &&\n  (" + celMountNone + " ? (\n")
	eachContainer("    ", c.container)
	b.WriteString("\n  ) : (\n")
	if len(c.storagePod) > 0 {
		w("    ", c.storagePod)
		b.WriteString(" &&\n")
	}
	eachContainer("    ", append(slices.Clone(c.container), c.storageContainer...))
	b.WriteString("\n  ))\n)")
	return admissionregistrationv1.MatchCondition{Name: "pod-needs-review", Expression: b.String()}
}
