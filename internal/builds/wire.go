// Package builds is the build service's contract between the CLI and the
// API server: the request and response bodies of /builds/v1, the rules a
// build's parameters follow, and the names of what a build makes. It
// links no server code (internal/builds/server serves the API and runs
// the builds).
package builds

import "github.com/toolforge-go/toolforge/internal/route"

// Statuses of a build, as the original API reports them.
const (
	StatusPending   = "BUILD_PENDING"
	StatusRunning   = "BUILD_RUNNING"
	StatusSuccess   = "BUILD_SUCCESS"
	StatusFailure   = "BUILD_FAILURE"
	StatusCancelled = "BUILD_CANCELLED"
	StatusTimeout   = "BUILD_TIMEOUT"
	StatusUnknown   = "BUILD_UNKNOWN"
)

// Parameters are what a build is asked to do.
type Parameters struct {
	// SourceURL is the public git repository to build.
	SourceURL string `json:"source_url"`
	// Ref is the branch, tag or commit (default: the repository's HEAD).
	Ref string `json:"ref,omitempty"`
	// ImageName names the image tool-<tool>/<image_name> (default
	// tool-<tool>).
	ImageName string `json:"image_name,omitempty"`
	// Envvars are set while building (not in the image).
	Envvars map[string]string `json:"envvars,omitempty"`
	// UseLatestVersions asks for dependencies' newest versions allowed by
	// the app's own constraints rather than its lock file's.
	UseLatestVersions bool `json:"use_latest_versions,omitempty"`
}

// Build is one build as the API reports it.
type Build struct {
	ID         string     `json:"build_id"`
	Status     string     `json:"status"`
	Message    string     `json:"message"`
	StartTime  string     `json:"start_time"`
	EndTime    string     `json:"end_time"`
	Parameters Parameters `json:"parameters"`
	// DestinationImage is the image the build makes: tag while it runs,
	// <registry>/tool-<tool>/<name>@sha256:… once it is pushed.
	DestinationImage string `json:"destination_image"`
}

// Finished says whether the build has ended, one way or another.
func (b Build) Finished() bool {
	switch b.Status {
	case StatusPending, StatusRunning, StatusUnknown:
		return false
	}
	return true
}

// Request and response bodies of the builds API.
type (
	StartResponse struct {
		NewBuild NewBuild       `json:"new_build"`
		Messages route.Messages `json:"messages"`
	}
	NewBuild struct {
		Name       string     `json:"name"`
		Parameters Parameters `json:"parameters"`
	}
	ListResponse struct {
		Builds   []Build        `json:"builds"`
		Messages route.Messages `json:"messages"`
	}
	BuildResponse struct {
		Build    Build          `json:"build"`
		Messages route.Messages `json:"messages"`
	}
	IDResponse struct {
		ID       string         `json:"id"`
		Messages route.Messages `json:"messages"`
	}
	QuotaResponse struct {
		Quota    Quota          `json:"quota"`
		Messages route.Messages `json:"messages"`
	}
	CleanResponse struct {
		Messages route.Messages `json:"messages"`
	}
	// LogLine is one line of a build's log stream (JSON lines); a line
	// with Message instead of Line is an error that happened after the
	// stream had started.
	LogLine struct {
		Line    string `json:"line,omitempty"`
		Message string `json:"message,omitempty"`
	}
)

// Quota is the registry's storage quota of the tool, in the original's
// categories and items (strings formatted for people).
type Quota struct {
	Categories []QuotaCategory `json:"categories"`
}

// QuotaCategory is a group of quota items.
type QuotaCategory struct {
	Name  string      `json:"name"`
	Items []QuotaItem `json:"items"`
}

// QuotaItem is one limited resource.
type QuotaItem struct {
	Name      string `json:"name"`
	Limit     string `json:"limit"`
	Used      string `json:"used"`
	Available string `json:"available,omitempty"`
	Capacity  string `json:"capacity,omitempty"`
}
