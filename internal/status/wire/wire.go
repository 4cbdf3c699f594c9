// Package wire holds the status page's JSON: one struct per page, as the
// server encodes it with `?format=json` (or Accept: application/json) and
// as clients decode it. The HTML pages are rendered from the same structs.
//
// Nothing here carries an environment value, a Secret or an annotation:
// the caches the pages are built from never hold them.
package wire

import "time"

// Page is what every page has.
type Page struct {
	// ObservedAt is when the page's data was read from the watch caches,
	// which follow the cluster as it changes (a watch per kind).
	ObservedAt time.Time `json:"observedAt"`
}

// Error is the body of a 404 (or 406) answer.
type Error struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	// Kind and Name say what was not found (tool, node, pod, page).
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

// ToolRef names a tool.
type ToolRef struct {
	Name string `json:"name"`
}

// PodRef names a pod; Tool is empty for a pod outside tool namespaces.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Tool      string `json:"tool,omitempty"`
	Phase     string `json:"phase"`
}

// Observed is ObservedAt (every page embeds Page).
func (p Page) Observed() time.Time { return p.ObservedAt }
