package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxNameLength keeps a CronJob's name (whose Jobs get a suffix) valid.
const MaxNameLength = 52

// MaxRetry is the most retries a job may ask for.
const MaxRetry = 5

// Names start with a letter so that the Service of a continuous job
// (DNS-1035) and the container (DNS-1123 label) can both carry it.
var nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// ValidateName checks a job name.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("a job name is required")
	}
	if len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return fmt.Errorf("invalid job name %q: use at most %d lower case letters, digits and '-', starting with a letter and ending with a letter or digit", name, MaxNameLength)
	}
	return nil
}

// Validate checks what can be checked without the cluster: the name, the
// combinations of settings and their formats. Messages name the CLI flag.
// j must be normalized.
func (j *Job) Validate() error {
	if err := ValidateName(j.Name); err != nil {
		return err
	}
	if j.Command == "" {
		return fmt.Errorf("--command is required")
	}
	if strings.ContainsRune(j.Command, 0) {
		return fmt.Errorf("--command must not contain NUL characters")
	}
	if j.Image == "" {
		return fmt.Errorf("--image is required (see `toolforge jobs images`)")
	}
	if j.Continuous && j.Schedule != "" {
		return fmt.Errorf("--schedule and --continuous cannot be used together")
	}
	if j.Schedule != "" {
		if err := ValidateSchedule(j.Schedule); err != nil {
			return err
		}
	}
	if j.Retry < 0 || j.Retry > MaxRetry {
		return fmt.Errorf("--retry must be between 0 and %d (got %d)", MaxRetry, j.Retry)
	}
	if j.Retry > 0 && j.Continuous {
		return fmt.Errorf("--retry applies to one-off and scheduled jobs; a continuous job is always restarted")
	}
	if !slices.Contains(EmailsValues, j.Emails) {
		return fmt.Errorf("--emails must be one of %s (got %q)", strings.Join(EmailsValues, ", "), j.Emails)
	}
	if !slices.Contains(MountValues, j.Mount) {
		return fmt.Errorf("--mount must be all or none (got %q)", j.Mount)
	}
	if j.Mount == MountNone && j.ImageKind() == CatalogueImage {
		// The catalogue's images expect the tool's home (the original's
		// refusal, word for word).
		return errors.New(ErrMountNoneCatalogue)
	}
	if !j.FileLogs() && (j.FilelogStdout != "" || j.FilelogStderr != "") {
		return fmt.Errorf("--no-filelog cannot go with -o/--filelog-stdout or -e/--filelog-stderr")
	}
	if j.FileLogs() && j.Mount != MountAll {
		return fmt.Errorf("--filelog (and -o/-e) write to the tool's home, which --mount none leaves out")
	}
	for flag, p := range map[string]string{"-o/--filelog-stdout": j.FilelogStdout, "-e/--filelog-stderr": j.FilelogStderr} {
		if strings.ContainsAny(p, "\n\x00") {
			return fmt.Errorf("%s %q: a file name cannot contain a newline", flag, p)
		}
	}
	if j.Timeout < 0 {
		return fmt.Errorf("--timeout must be a number of seconds (got %d)", j.Timeout)
	}
	if j.Timeout > 0 && j.Continuous {
		return fmt.Errorf("--timeout applies to one-off and scheduled jobs, not --continuous")
	}
	if err := j.validateContinuousOnly(); err != nil {
		return err
	}
	if err := validateQuantity("--mem", j.Memory); err != nil {
		return err
	}
	return validateQuantity("--cpu", j.CPU)
}

func (j *Job) validateContinuousOnly() error {
	if j.Port != 0 {
		if !j.Continuous {
			return fmt.Errorf("--port needs --continuous (only continuous jobs get a Service)")
		}
		if j.Port < 1 || j.Port > 65535 {
			return fmt.Errorf("--port must be between 1 and 65535 (got %d)", j.Port)
		}
		if j.PortProtocol != "tcp" && j.PortProtocol != "udp" {
			return fmt.Errorf("--port protocol must be tcp or udp (got %q)", j.PortProtocol)
		}
	}
	if j.Publish {
		switch {
		case !j.Continuous:
			return fmt.Errorf("--publish needs --continuous (a one-off or scheduled job does not serve)")
		case j.Port == 0:
			return fmt.Errorf("--publish needs --port (the port the job serves HTTP on)")
		case j.PortProtocol != "tcp":
			return fmt.Errorf("--publish needs a tcp --port (HTTP)")
		}
	}
	if j.Replicas != 0 && !j.Continuous {
		return fmt.Errorf("--replicas needs --continuous")
	}
	if j.Replicas < 0 {
		return fmt.Errorf("--replicas must be at least 1 (got %d)", j.Replicas)
	}
	hc := j.HealthCheck
	if hc == nil {
		return nil
	}
	switch hc.Type {
	case HealthScript:
		if !j.Continuous {
			return fmt.Errorf("--health-check-script needs --continuous")
		}
		if strings.TrimSpace(hc.Script) == "" || hc.Path != "" {
			return fmt.Errorf("--health-check-script needs a command")
		}
	case HealthHTTP:
		if !j.Continuous {
			return fmt.Errorf("--health-check-http needs --continuous")
		}
		if j.Port == 0 {
			return fmt.Errorf("--health-check-http needs --port (the port the path is served on)")
		}
		if j.PortProtocol != "tcp" {
			return fmt.Errorf("--health-check-http needs a tcp --port")
		}
		if !strings.HasPrefix(hc.Path, "/") || hc.Script != "" || strings.ContainsAny(hc.Path, " \n") {
			return fmt.Errorf("--health-check-http %q: want a URL path starting with / (e.g. /healthz)", hc.Path)
		}
	default:
		return fmt.Errorf("health_check type must be %s or %s (got %q)", HealthScript, HealthHTTP, hc.Type)
	}
	return nil
}

func validateQuantity(flag, s string) error {
	if s == "" {
		return nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%s %q is not a quantity (e.g. %s)", flag, s, quantityExample(flag))
	}
	if q.Sign() <= 0 {
		return fmt.Errorf("%s %q must be more than zero", flag, s)
	}
	return nil
}

func quantityExample(flag string) string {
	if flag == "--cpu" {
		return "0.5 or 500m"
	}
	return "512Mi or 1Gi"
}
