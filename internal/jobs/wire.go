package jobs

import "github.com/toolforge-go/toolforge/internal/route"

// Response bodies of the jobs API.
type (
	JobList struct {
		Jobs     []Info         `json:"jobs"`
		Messages route.Messages `json:"messages"`
	}
	JobResponse struct {
		Job      Info           `json:"job"`
		Messages route.Messages `json:"messages"`
	}
	ApplyResponse struct {
		Job Info `json:"job"`
		// Result is created, updated or unchanged.
		Result   string         `json:"result"`
		Messages route.Messages `json:"messages"`
	}
	FlushResponse struct {
		Deleted  int            `json:"deleted"`
		Messages route.Messages `json:"messages"`
	}
	ImageList struct {
		Images   []ImageInfo    `json:"images"`
		Messages route.Messages `json:"messages"`
	}
	QuotaResponse struct {
		Quota    Quota          `json:"quota"`
		Messages route.Messages `json:"messages"`
	}
)

// ImageInfo is a catalogue entry as the images route lists it.
type ImageInfo struct {
	Shortname string   `json:"shortname"`
	Image     string   `json:"image"`
	Aliases   []string `json:"aliases"`
	State     string   `json:"state"`
}

// Results of an apply (PATCH).
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
)
