package inventory

import (
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// interner shares equal resource lists among the cached objects: most
// containers request and limit what the tool's LimitRange or the platform
// sets, and most quotas are the default, so thousands of objects hold the
// same few maps instead of a copy each (a fifth of the caches' memory at
// 3,000 tools). Shared lists are never changed: the caches' objects are
// read-only.
type interner struct {
	mu    sync.Mutex
	lists map[string]corev1.ResourceList
	max   int
}

func newInterner(max int) *interner {
	return &interner{lists: map[string]corev1.ResourceList{}, max: max}
}

// list returns a list equal to l, shared when one was seen before. Past
// max distinct lists (quota use changes all the time) new ones are kept
// as they are.
func (in *interner) list(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return nil
	}
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var key strings.Builder
	for _, n := range names {
		q := l[corev1.ResourceName(n)]
		key.WriteString(n)
		key.WriteByte('=')
		key.WriteString(q.String())
		key.WriteByte(';')
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if shared, ok := in.lists[key.String()]; ok {
		return shared
	}
	if len(in.lists) < in.max {
		in.lists[key.String()] = l
	}
	return l
}
