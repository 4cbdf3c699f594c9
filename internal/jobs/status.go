package jobs

// Short statuses (the original's, which --wait and scripts look for).
const (
	StatusRunning   = "Running"
	StatusCompleted = "Completed"
	StatusFailed    = "Failed"
	StatusPending   = "Pending"
	StatusSuspended = "Suspended"
	StatusNotRun    = "Not running"
)

// Info is a job as the API reports it: the definition the user gave and
// what runs.
type Info struct {
	Job
	// ImageRef is the container image the job runs, ImageState its
	// catalogue state (stable, deprecated, or unknown when the catalogue
	// no longer has it).
	ImageRef   string `json:"image"`
	ImageState string `json:"image_state"`
	// ScheduleActual is the cron schedule the CronJob runs on (a macro
	// expanded).
	ScheduleActual string `json:"schedule_actual,omitempty"`
	StatusShort    string `json:"status_short"`
	StatusLong     string `json:"status_long"`
	// URL is where a published job answers from outside.
	URL string `json:"url,omitempty"`
	// ExitCode is the exit status of the command in the job's newest
	// finished container (show only): what `run --wait` exits with.
	ExitCode *int32 `json:"exit_code,omitempty"`
	// Drift lists where the running object differs from the definition.
	Drift []string `json:"drift,omitempty"`
	// Usage is what its running pods use against their limits (show
	// only, where the cluster serves the metrics API), e.g. "cpu 12m of
	// 500m, memory 40Mi of 512Mi".
	Usage string `json:"usage,omitempty"`
}
