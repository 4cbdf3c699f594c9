package webservice

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of a web service (SPEC §7, the seeds' news page).
const (
	DefaultType     = "php8.2"
	DefaultCPU      = "500m"
	DefaultMem      = "512Mi"
	DefaultReplicas = 1
)

// Choices are what one source (the command line, the manifest, the
// template) says about the settings; empty fields say nothing.
type Choices struct {
	Type     string
	CPU      string
	Mem      string
	Replicas string
	// BuildserviceImage and Mount are the buildservice type's: the
	// tool's image (default tool-<tool>/tool-<tool>:latest) and whether
	// its home is mounted (default none).
	BuildserviceImage string
	Mount             string
}

// Source is a named set of choices. Flags marks the command line, so errors
// name the flag (--mem) rather than the key (mem: in FILE).
type Source struct {
	Name    string
	Flags   bool
	Choices Choices
	// ExtraArgs are the arguments of the image's runner; only a template
	// gives them.
	ExtraArgs []string
}

// FlagSource is the command line's choices.
func FlagSource(c Choices) Source { return Source{Name: "the command line", Flags: true, Choices: c} }

// Settings are what a web service runs with, resolved and parsed.
type Settings struct {
	Type     string
	CPU      resource.Quantity
	Mem      resource.Quantity
	Replicas int32
	// BuildserviceImage and Mount: see Choices ("" for their defaults).
	BuildserviceImage, Mount string
	// ExtraArgs are the first source's that has any.
	ExtraArgs []string
	// origins name where each field came from, for error messages.
	origins map[string]origin
}

type origin struct {
	source Source
	value  string
}

// Setting names, as the manifest and template spell them.
const (
	fieldType     = "type"
	fieldCPU      = "cpu"
	fieldMem      = "mem"
	fieldReplicas = "replicas"
	// The buildservice type's, as the manifest spells them.
	fieldBuildserviceImage = "buildservice-image"
	fieldMount             = "mount"
)

// Describe says where a setting came from in the words of its source:
// "--mem 5Gi", "mem: 5Gi in /data/project/x/service.template", or
// "the default mem 512Mi".
func (s Settings) Describe(field string) string {
	o, ok := s.origins[field]
	switch {
	case !ok:
		return field
	case o.source.Flags:
		return fmt.Sprintf("--%s %s", field, o.value)
	case o.source.Name == "":
		return fmt.Sprintf("the default %s %s", field, o.value)
	default:
		return fmt.Sprintf("%s: %s in %s", field, o.value, o.source.Name)
	}
}

// Resolve picks each setting from the first source that has it (list the
// command line first, then the manifest, then the template), falls back to
// the defaults, and parses the result. Errors name the field, the source
// and what is allowed.
func Resolve(sources ...Source) (Settings, error) {
	s := Settings{origins: map[string]origin{}}
	pick := func(field string, get func(Choices) string, def string) string {
		for _, src := range sources {
			if v := get(src.Choices); v != "" {
				s.origins[field] = origin{source: src, value: v}
				return v
			}
		}
		s.origins[field] = origin{value: def}
		return def
	}
	s.Type = pick(fieldType, func(c Choices) string { return c.Type }, DefaultType)
	for _, src := range sources {
		if src.ExtraArgs != nil {
			s.ExtraArgs = src.ExtraArgs
			break
		}
	}
	cpu := pick(fieldCPU, func(c Choices) string { return c.CPU }, DefaultCPU)
	mem := pick(fieldMem, func(c Choices) string { return c.Mem }, DefaultMem)
	replicas := pick(fieldReplicas, func(c Choices) string { return c.Replicas }, strconv.Itoa(DefaultReplicas))
	s.BuildserviceImage = pick(fieldBuildserviceImage, func(c Choices) string { return c.BuildserviceImage }, "")
	s.Mount = pick(fieldMount, func(c Choices) string { return c.Mount }, "")
	if s.Mount != "" && s.Mount != "all" && s.Mount != "none" {
		return Settings{}, fmt.Errorf("%s is not allowed: mount is all or none", s.Describe(fieldMount))
	}

	var err error
	if s.CPU, err = resource.ParseQuantity(cpu); err != nil || s.CPU.Sign() <= 0 {
		return Settings{}, fmt.Errorf("%s is not a CPU amount: use a positive number of CPUs like 0.5, 1 or 250m", s.Describe(fieldCPU))
	}
	if s.Mem, err = resource.ParseQuantity(mem); err != nil || s.Mem.Sign() <= 0 {
		return Settings{}, fmt.Errorf("%s is not a memory amount: use a positive size like 512Mi or 2Gi", s.Describe(fieldMem))
	}
	n, err := strconv.ParseInt(replicas, 10, 32)
	if err != nil || n < 1 {
		return Settings{}, fmt.Errorf("%s is not allowed: replicas must be a whole number of at least 1", s.Describe(fieldReplicas))
	}
	s.Replicas = int32(n)
	return s, nil
}

// Choices are the settings as the manifest records them.
func (s Settings) Choices() Choices {
	return Choices{Type: s.Type, CPU: s.CPU.String(), Mem: s.Mem.String(), Replicas: strconv.Itoa(int(s.Replicas)), BuildserviceImage: s.BuildserviceImage, Mount: s.Mount}
}
