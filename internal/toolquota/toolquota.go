// Package toolquota is a tool's quota overrides: the keys and quantities an
// admin may set (validated the same way by toolforge-admin and by the
// accounts controller), how they are stored (an annotation on the tool's
// namespace, which the tool cannot change), and the admin operations
// show, set and reset.
package toolquota

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Keys are the ResourceQuota keys the API server accepts in spec.hard,
// beyond count/<resource>[.<group>].
var Keys = []string{
	"configmaps", "cpu", "ephemeral-storage", "limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"memory", "persistentvolumeclaims", "pods", "replicationcontrollers", "requests.cpu",
	"requests.ephemeral-storage", "requests.memory", "requests.storage", "resourcequotas", "secrets",
	"services", "services.loadbalancers", "services.nodeports",
	RegistryStorage,
}

// RegistryStorage is the storage the tool's images may take in the
// platform's registry (default 1Gi), enforced by the build service; the
// accounts controller leaves it out of the ResourceQuota.
const RegistryStorage = "registry.storage"

// countPrefix is the object count quota of any kind: count/<resource>.<group>.
const countPrefix = "count/"

// AllowedNames lists what ValidateKey accepts, for error messages.
func AllowedNames() string {
	return strings.Join(Keys, ", ") + ", count/<resource>[.<group>]"
}

// ValidateKey says why key is not a quota key, or nil.
func ValidateKey(key string) error {
	if slices.Contains(Keys, key) {
		return nil
	}
	if rest, ok := strings.CutPrefix(key, countPrefix); ok && rest != "" && !strings.ContainsAny(rest, "/ ") {
		return nil
	}
	return fmt.Errorf("unknown quota key %q (allowed: %s)", key, AllowedNames())
}

// Parse checks one KEY=VALUE: a known key and a non-negative quantity.
func Parse(key, value string) (resource.Quantity, error) {
	if err := ValidateKey(key); err != nil {
		return resource.Quantity{}, err
	}
	q, err := resource.ParseQuantity(value)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("quota %s=%s: %q is not a quantity (e.g. 4, 500m, 8Gi)", key, value, value)
	}
	if q.Sign() < 0 {
		return resource.Quantity{}, fmt.Errorf("quota %s=%s: a quota cannot be negative", key, value)
	}
	return q, nil
}

// ParseArgs parses KEY=VALUE arguments, naming every bad one.
func ParseArgs(args []string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	var errs []string
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" || v == "" {
			errs = append(errs, fmt.Sprintf("%q is not KEY=VALUE", a))
			continue
		}
		q, err := Parse(k, v)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out[corev1.ResourceName(k)] = q
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// Decode reads the overrides annotation ("" is none). Every key and
// quantity is checked as ParseArgs checks them: a hand-edited annotation
// with a bad entry is refused whole, never half-applied.
func Decode(annotation string) (corev1.ResourceList, error) {
	if annotation == "" {
		return corev1.ResourceList{}, nil
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(annotation), &raw); err != nil {
		return nil, fmt.Errorf("quota overrides are not a JSON object of strings: %w", err)
	}
	args := make([]string, 0, len(raw))
	for k, v := range raw {
		args = append(args, k+"="+v)
	}
	sort.Strings(args)
	return ParseArgs(args)
}

// Encode is the annotation for overrides ("" for none); keys sorted, so
// equal overrides are equal strings.
func Encode(list corev1.ResourceList) string {
	if len(list) == 0 {
		return ""
	}
	raw := map[string]string{}
	for k, v := range list {
		raw[string(k)] = v.String()
	}
	data, err := json.Marshal(raw) // map keys are sorted
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(data)
}

// EncodeStrings is Encode for overrides already as strings.
func EncodeStrings(m map[string]string) string {
	data, err := json.Marshal(m)
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(data)
}
