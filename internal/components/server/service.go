// Package server serves the components API (/components/v1) and runs
// deployments: a level-based reconciler of ComponentDeployments that
// builds each component through the build service and runs it through the
// jobs framework's own create-or-update (internal/jobs/server), so a
// component is exactly the job `toolforge jobs run` would make.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/builds"
	buildsv1 "github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/route"
)

// Builder is what deployments need of the build service
// (internal/builds/server.Service).
type Builder interface {
	ResolveRef(ctx context.Context, url, ref string) (string, error)
	List(ctx context.Context, tool string) ([]buildsv1.Build, error)
	Start(ctx context.Context, tool string, p builds.Parameters) (*buildsv1.Build, route.Messages, error)
	PushedImage(b *buildsv1.Build) string
}

// Runner is what deployments need of the jobs framework
// (internal/jobs/server.Store).
type Runner interface {
	Apply(ctx context.Context, tool string, j *jobs.Job) (string, *jobs.Info, []string, error)
	CheckApply(ctx context.Context, tool string, j *jobs.Job) (string, *jobs.Info, []string, error)
	Restart(ctx context.Context, tool, name string) (string, error)
	Delete(ctx context.Context, tool, name string) error
	// Rollout is ready, progressing or failed (jobsserver.Rollout*).
	Rollout(ctx context.Context, tool, name string) (string, string, error)
}

// Keep is how many deployments of a tool are kept.
const Keep = 25

// Service is the components API and its executor.
type Service struct {
	// Client reads and writes the components' custom resources (JSON).
	Client client.Client
	// Kube reads and writes deploy token Secrets.
	Kube kubernetes.Interface
	// Builds is nil on a platform without a build service: deployments
	// then fail saying so.
	Builds Builder
	Jobs   Runner
	Log    *slog.Logger
	// HTTP fetches a file's source_url.
	HTTP *http.Client
	// Deadline bounds a whole deployment (its builds wait in the build
	// service's queue and run under its own deadline); StepDeadline one
	// component's build.
	Deadline, StepDeadline time.Duration
	// TokenLifetime is how long a new deploy token is valid.
	TokenLifetime time.Duration
	Now           func() time.Time

	// createMu serializes deployment creation per API server, so that
	// two at once cannot both pass the one-at-a-time check.
	createMu sync.Mutex
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) deadline() time.Duration {
	if s.Deadline == 0 {
		return time.Hour
	}
	return s.Deadline
}

func (s *Service) stepDeadline() time.Duration {
	if s.StepDeadline == 0 {
		return 45 * time.Minute
	}
	return s.StepDeadline
}

func (s *Service) tokenLifetime() time.Duration {
	if s.TokenLifetime == 0 {
		return components.DefaultTokenLifetimeDays * 24 * time.Hour
	}
	return s.TokenLifetime
}

const base = "/components/v1/tool/{tool}"

// maxBody bounds a components file.
const maxBody = 1 << 20

// Routes are the components API's paths, as the original's.
func (s *Service) Routes() []route.Route {
	return []route.Route{
		{Method: http.MethodPost, Path: base + "/config", Summary: "Create or replace the tool's components file", Request: components.Config{}, Response: components.ConfigResponse{}, Handle: s.handleConfigCreate},
		{Method: http.MethodGet, Path: base + "/config", Summary: "Show the tool's components file", Response: components.ConfigResponse{}, Handle: s.handleConfigGet},
		{Method: http.MethodDelete, Path: base + "/config", Summary: "Delete the tool's components file", Response: components.ConfigResponse{}, Handle: s.handleConfigDelete},
		{Method: http.MethodPost, Path: base + "/deploy-token", Summary: "Create the tool's deploy token", Response: components.TokenResponse{}, Handle: s.handleTokenCreate},
		{Method: http.MethodGet, Path: base + "/deploy-token", Summary: "Show the tool's deploy token", Response: components.TokenResponse{}, Handle: s.handleTokenGet},
		{Method: http.MethodPut, Path: base + "/deploy-token", Summary: "Replace the tool's deploy token by a new one", Response: components.TokenResponse{}, Handle: s.handleTokenRefresh},
		{Method: http.MethodDelete, Path: base + "/deploy-token", Summary: "Delete the tool's deploy token", Response: components.TokenResponse{}, Handle: s.handleTokenDelete},
		{Method: http.MethodPost, Path: base + "/deployment", Summary: "Deploy the tool's components (with a client certificate, or ?token= the tool's deploy token: a push webhook)",
			Query:   []route.Param{{Name: "token", Type: "string", Description: "the tool's deploy token, instead of a client certificate"}},
			Request: components.DeploymentRequest{}, Response: components.DeploymentResponse{}, TokenAuth: s.CheckToken, Handle: s.handleDeploymentCreate},
		{Method: http.MethodGet, Path: base + "/deployment", Summary: "List the tool's deployments, oldest first", Response: components.DeploymentListResponse{}, Handle: s.handleDeploymentList},
		{Method: http.MethodGet, Path: base + "/deployment/{id}", Summary: "Show a deployment", Response: components.DeploymentResponse{}, Handle: s.handleDeploymentGet},
		{Method: http.MethodGet, Path: "/components/v1/schema.json", Summary: "The components file's JSON Schema, for editors (public)",
			ContentType: "application/schema+json", Handle: handleSchema},
		{Method: http.MethodDelete, Path: base + "/deployment/{id}", Summary: "Delete a deployment's record", Response: components.DeploymentResponse{}, Handle: s.handleDeploymentDelete},
	}
}

// Disabled are the routes on a platform without the components service.
func Disabled(reason string) []route.Route {
	routes := (&Service{}).Routes()
	for i := range routes {
		routes[i].TokenAuth = nil
		routes[i].Handle = func(http.ResponseWriter, *route.Request) error {
			return route.Errorf(http.StatusServiceUnavailable, "%s", reason)
		}
	}
	return routes
}

func handleSchema(w http.ResponseWriter, _ *route.Request) error {
	w.Header().Set("Content-Type", "application/schema+json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(components.JSONSchema())
}
