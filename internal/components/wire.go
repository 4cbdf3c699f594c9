package components

import "github.com/toolforge-go/toolforge/internal/route"

// Statuses of a deployment and of its steps, as the original reports them.
const (
	StatusPending    = "pending"
	StatusRunning    = "running"
	StatusSuccessful = "successful"
	StatusFailed     = "failed"
	StatusSkipped    = "skipped"
)

// NoBuildID is a component's build ID before its build is known (the
// original's placeholder, which scripts wait on).
const NoBuildID = "no-id-yet"

// DefaultTokenLifetimeDays is how long a deploy token is valid.
const DefaultTokenLifetimeDays = 365

// Deployment is one deployment as the API reports it.
type Deployment struct {
	DeployID     string `json:"deploy_id"`
	CreationTime string `json:"creation_time"`
	Status       string `json:"status"`
	LongStatus   string `json:"long_status"`
	ForceBuild   bool   `json:"force_build"`
	ForceRun     bool   `json:"force_run"`
	Prune        bool   `json:"prune"`
	// Builds and Runs are each component's steps.
	Builds map[string]BuildStep `json:"builds"`
	Runs   map[string]RunStep   `json:"runs"`
}

// BuildStep is a component's build step.
type BuildStep struct {
	BuildID     string `json:"build_id"`
	BuildStatus string `json:"build_status"`
	// BuildLongStatus says what happened (reused, built, why it failed).
	BuildLongStatus string `json:"build_long_status"`
}

// RunStep is a component's run step.
type RunStep struct {
	RunStatus     string `json:"run_status"`
	RunLongStatus string `json:"run_long_status"`
}

// Token is a tool's deploy token.
type Token struct {
	Token          string `json:"token"`
	CreationDate   string `json:"creation_date"`
	ExpirationDate string `json:"expiration_date"`
}

// DeploymentRequest asks for a deployment.
type DeploymentRequest struct {
	ForceBuild bool `json:"force_build,omitempty"`
	ForceRun   bool `json:"force_run,omitempty"`
	// Prune removes the jobs of components that left the file since the
	// last successful deployment.
	Prune bool `json:"prune,omitempty"`
	// DryRun says what the deployment would do, and does nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Change is what a dry run says a deployment would do to one component.
type Change struct {
	Component string `json:"component"`
	Build     string `json:"build"`
	Run       string `json:"run"`
}

// Response bodies: the data and the messages, as the original's.
type (
	ConfigResponse struct {
		Data     Config         `json:"data"`
		Messages route.Messages `json:"messages"`
	}
	TokenResponse struct {
		Data     Token          `json:"data"`
		Messages route.Messages `json:"messages"`
	}
	DeploymentResponse struct {
		Data     Deployment     `json:"data"`
		Messages route.Messages `json:"messages"`
	}
	DeploymentList struct {
		Deployments []Deployment `json:"deployments"`
	}
	DeploymentListResponse struct {
		Data     DeploymentList `json:"data"`
		Messages route.Messages `json:"messages"`
	}
	DryRunResponse struct {
		Data     []Change       `json:"data"`
		Messages route.Messages `json:"messages"`
	}
)
