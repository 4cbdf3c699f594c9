package admission

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// checkIdentity refuses what would let a pod act as anyone but its tool:
// another uid or gid, root, privileges, the node's namespaces and ports.
// Pod Security Admission refuses most of it too, but only after mutation and
// with its own wording; this names the rule and the fix first.
func checkIdentity(t *podTarget) []string {
	var out []string
	uid := t.tool.UID
	if t.podLevel {
		p := t.path
		for _, host := range []struct {
			on    bool
			field string
		}{
			{t.spec.HostNetwork, "hostNetwork"},
			{t.spec.HostPID, "hostPID"},
			{t.spec.HostIPC, "hostIPC"},
		} {
			if host.on {
				out = append(out, fmt.Sprintf("%s: true is not allowed: tool pods never share the node's namespaces; remove it", p.Child(host.field)))
			}
		}
		if sc := t.spec.SecurityContext; sc != nil {
			sp := p.Child("securityContext")
			out = append(out, checkID(sp.Child("runAsUser").String(), sc.RunAsUser, uid, "uid")...)
			out = append(out, checkID(sp.Child("runAsGroup").String(), sc.RunAsGroup, uid, "gid")...)
			out = append(out, checkID(sp.Child("fsGroup").String(), sc.FSGroup, uid, "gid")...)
			for i, g := range sc.SupplementalGroups {
				out = append(out, checkID(sp.Child("supplementalGroups").Index(i).String(), &g, uid, "gid")...)
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				out = append(out, fmt.Sprintf("%s: false is not allowed: tool pods never run as root; remove it", sp.Child("runAsNonRoot")))
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
				out = append(out, fmt.Sprintf("%s: Unconfined is not allowed (allowed: RuntimeDefault, Localhost); remove it", sp.Child("seccompProfile", "type")))
			}
		}
	}
	for _, c := range t.reviewedContainers() {
		for _, port := range c.ports {
			if port.HostPort != 0 {
				out = append(out, fmt.Sprintf("%s: hostPort %d of %s is not allowed: tool pods never bind the node's ports; remove it and use a Service", c.path.Child("ports"), port.HostPort, c))
			}
		}
		sc := *c.sc
		if sc == nil {
			continue
		}
		sp := c.path.Child("securityContext")
		if ptr.Deref(sc.Privileged, false) {
			out = append(out, fmt.Sprintf("%s: privileged %s is not allowed: tool containers never run privileged; remove it", sp.Child("privileged"), c))
		}
		if ptr.Deref(sc.AllowPrivilegeEscalation, false) {
			out = append(out, fmt.Sprintf("%s: true is not allowed for %s: tool containers cannot gain privileges; remove it", sp.Child("allowPrivilegeEscalation"), c))
		}
		if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
			out = append(out, fmt.Sprintf("%s: adding capabilities %v to %s is not allowed: tool containers drop all capabilities; remove it", sp.Child("capabilities", "add"), sc.Capabilities.Add, c))
		}
		out = append(out, checkID(sp.Child("runAsUser").String(), sc.RunAsUser, uid, "uid")...)
		out = append(out, checkID(sp.Child("runAsGroup").String(), sc.RunAsGroup, uid, "gid")...)
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			out = append(out, fmt.Sprintf("%s: false is not allowed for %s: tool containers never run as root; remove it", sp.Child("runAsNonRoot"), c))
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
			out = append(out, fmt.Sprintf("%s: Unconfined is not allowed for %s (allowed: RuntimeDefault, Localhost); remove it", sp.Child("seccompProfile", "type"), c))
		}
	}
	return out
}

// checkID says what is wrong with an explicit uid or gid: tools run as
// their own uid, whose group has the same number.
func checkID(field string, got *int64, uid int64, what string) []string {
	if got == nil || *got == uid {
		return nil
	}
	who := fmt.Sprintf("%s %d", what, *got)
	if *got == 0 {
		who = fmt.Sprintf("%s 0 (root)", what)
	}
	return []string{fmt.Sprintf("%s: %s is not allowed: this tool runs as %s %d; remove the field or set it to %d", field, who, what, uid, uid)}
}

// mutateIdentity gives the pod the tool's uid and gid and the restricted
// security context; fields a compliant pod already set are kept.
func mutateIdentity(t *podTarget) {
	uid := t.tool.UID
	if t.podLevel {
		if t.spec.SecurityContext == nil {
			t.spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		sc := t.spec.SecurityContext
		sc.RunAsUser = ptr.To(uid)
		sc.RunAsGroup = ptr.To(uid)
		sc.FSGroup = ptr.To(uid)
		sc.RunAsNonRoot = ptr.To(true)
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}
	}
	for _, c := range t.reviewedContainers() {
		if *c.sc == nil {
			*c.sc = &corev1.SecurityContext{}
		}
		sc := *c.sc
		sc.AllowPrivilegeEscalation = ptr.To(false)
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		if !slices.Contains(sc.Capabilities.Drop, "ALL") {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, "ALL")
		}
	}
}
