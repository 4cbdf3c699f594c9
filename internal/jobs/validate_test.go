package jobs

import (
	"strings"
	"testing"
)

func TestValidateRefusesBadInputNamingTheFlag(t *testing.T) {
	base := func(mod func(j *Job)) Job {
		j := Job{Name: "bot", Command: "./run.sh", Image: "python3.11"}
		mod(&j)
		return j
	}
	cases := []struct {
		name string
		job  Job
		flag string // "" means valid
	}{
		{"a plain one-off job is valid", base(func(*Job) {}), ""},
		{"a scheduled job with five fields is valid", base(func(j *Job) { j.Schedule = "*/5 * * * 1-5" }), ""},
		{"a @daily job is valid", base(func(j *Job) { j.Schedule = "@daily" }), ""},
		{"a continuous job with port, replicas and http check is valid", base(func(j *Job) {
			j.Continuous, j.Port, j.Replicas, j.HealthCheck = true, 8080, 2, &HealthCheck{Type: HealthHTTP, Path: "/healthz"}
		}), ""},
		{"an upper case name is refused", base(func(j *Job) { j.Name = "Bot" }), "job name"},
		{"a name with a dot is refused", base(func(j *Job) { j.Name = "my.bot" }), "job name"},
		{"a name starting with a digit is refused", base(func(j *Job) { j.Name = "1bot" }), "job name"},
		{"a 53 character name is refused", base(func(j *Job) { j.Name = strings.Repeat("a", 53) }), "job name"},
		{"a missing command is refused", base(func(j *Job) { j.Command = "" }), "--command"},
		{"a missing image is refused", base(func(j *Job) { j.Image = "" }), "--image"},
		{"four cron fields are refused", base(func(j *Job) { j.Schedule = "* * * *" }), "--schedule"},
		{"a minute of 60 is refused", base(func(j *Job) { j.Schedule = "60 * * * *" }), "--schedule"},
		{"an unknown macro is refused", base(func(j *Job) { j.Schedule = "@reboot" }), "--schedule"},
		{"a seconds field is refused", base(func(j *Job) { j.Schedule = "0 0 * * * *" }), "--schedule"},
		{"a time zone is refused", base(func(j *Job) { j.Schedule = "CRON_TZ=UTC 0 * * * *" }), "--schedule"},
		{"schedule with continuous is refused", base(func(j *Job) { j.Schedule, j.Continuous = "@daily", true }), "--schedule and --continuous"},
		{"retry 9 is refused", base(func(j *Job) { j.Retry = 9 }), "--retry"},
		{"retry -1 is refused", base(func(j *Job) { j.Retry = -1 }), "--retry"},
		{"retry on a continuous job is refused", base(func(j *Job) { j.Retry, j.Continuous = 1, true }), "--retry"},
		{"unknown emails are refused", base(func(j *Job) { j.Emails = "sometimes" }), "--emails"},
		{"an unknown mount is refused", base(func(j *Job) { j.Mount = "some" }), "--mount"},
		{"mount none of a catalogue image is refused with the original's message", base(func(j *Job) { j.Mount = "none" }), ErrMountNoneCatalogue},
		{"mount none of a built image is valid", base(func(j *Job) { j.Image, j.Mount = "tool-bot/app:latest", "none" }), ""},
		{"file logs without the home mount are refused", base(func(j *Job) { j.Image, j.Mount, j.Filelog = "tool-bot/app", "none", ptr(true) }), "--filelog"},
		{"no file logs with a log file named are refused", base(func(j *Job) { j.Filelog, j.FilelogStdout = ptr(false), "x.log" }), "--no-filelog"},
		{"a port without continuous is refused", base(func(j *Job) { j.Port = 8080 }), "--port needs --continuous"},
		{"port 70000 is refused", base(func(j *Job) { j.Continuous, j.Port = true, 70000 }), "--port"},
		{"an sctp port is refused", base(func(j *Job) { j.Continuous, j.Port, j.PortProtocol = true, 80, "sctp" }), "--port"},
		{"replicas without continuous are refused", base(func(j *Job) { j.Replicas = 2 }), "--replicas"},
		{"an http check without a port is refused", base(func(j *Job) { j.Continuous, j.HealthCheck = true, &HealthCheck{Type: HealthHTTP, Path: "/"} }), "--health-check-http needs --port"},
		{"an http check path must be a path", base(func(j *Job) {
			j.Continuous, j.Port, j.HealthCheck = true, 80, &HealthCheck{Type: HealthHTTP, Path: "healthz"}
		}), "--health-check-http"},
		{"a script check on a one-off job is refused", base(func(j *Job) { j.HealthCheck = &HealthCheck{Type: HealthScript, Script: "true"} }), "--health-check-script"},
		{"a timeout on a continuous job is refused", base(func(j *Job) { j.Continuous, j.Timeout = true, 60 }), "--timeout"},
		{"a memory that is no quantity is refused", base(func(j *Job) { j.Memory = "lots" }), "--mem"},
		{"a negative cpu is refused", base(func(j *Job) { j.CPU = "-1" }), "--cpu"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.job
			j.Normalize()
			err := j.Validate()
			switch {
			case tc.flag == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.flag != "" && err == nil:
				t.Fatalf("accepted, want an error naming %s", tc.flag)
			case tc.flag != "" && !strings.Contains(err.Error(), tc.flag):
				t.Fatalf("error %q does not name %s", err, tc.flag)
			}
		})
	}
}

func TestNormalizeMakesEquivalentDefinitionsEqual(t *testing.T) {
	a := Job{Name: "web", Command: "./serve", Image: "python3.11", Continuous: true, Port: 8080}
	b := Job{Name: "web", Command: " ./serve ", Image: "python3.11", Continuous: true, Port: 8080, PortProtocol: "TCP", Replicas: 1, Emails: "none", Mount: "all"}
	a.Normalize()
	b.Normalize()
	if !a.Equal(&b) {
		t.Fatalf("%+v != %+v", a, b)
	}
	c := b
	c.HealthCheck = &HealthCheck{Type: HealthHTTP, Path: "/"}
	if a.Equal(&c) {
		t.Fatal("a health check must make a difference")
	}
	d := Job{Name: "x", Command: "y", Image: "z", FilelogStdout: "out.log"}
	d.Normalize()
	if !d.FileLogs() || d.FilelogStderr != "x.err" {
		t.Fatalf("-o implies --filelog with the default stderr file: %+v", d)
	}
}

func ptr(b bool) *bool { return &b }

func TestNormalizeFillsTheDefaultsOfTheImagesKind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		job     Job
		filelog bool
		mount   string
	}{
		{"a catalogue image logs to files and mounts all", Job{Image: "python3.11"}, true, MountAll},
		{"a catalogue image's full reference too", Job{Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"}, true, MountAll},
		{"a built image logs to the log store and mounts none", Job{Image: "tool-bot/app:latest"}, false, MountNone},
		{"a built image in the platform's registry too", Job{Image: "registry.example:5000/tool-bot/app@sha256:" + strings.Repeat("a", 64)}, false, MountNone},
		{"--no-filelog turns a catalogue image's file logs off", Job{Image: "python3.11", Filelog: ptr(false)}, false, MountAll},
		{"--filelog turns a built image's file logs on", Job{Image: "tool-bot/app", Filelog: ptr(true), Mount: MountAll}, true, MountAll},
		{"--mount all on a built image is kept", Job{Image: "tool-bot/app", Mount: MountAll}, false, MountAll},
		{"-o asks for file logs of a built image", Job{Image: "tool-bot/app", FilelogStdout: "app.log", Mount: MountAll}, true, MountAll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.job
			j.Name, j.Command = "bot", "./run"
			j.Normalize()
			if j.Filelog == nil || *j.Filelog != tc.filelog || j.Mount != tc.mount {
				t.Fatalf("filelog %v, mount %q; want %v, %q", j.Filelog, j.Mount, tc.filelog, tc.mount)
			}
			if err := j.Validate(); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestKindOfImageTellsBuiltImagesByTheirRepository(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0f", 32)
	for ref, want := range map[string]ImageKind{
		"tool-bot/app":                                   BuiltImage,
		"tool-bot/app:latest":                            BuiltImage,
		"tool-my-bot/my_app.v2:1.0":                      BuiltImage,
		"tool-bot/app@" + digest:                         BuiltImage,
		"tool-bot/app:latest@" + digest:                  BuiltImage,
		"registry.svc.toolforge.org/tool-bot/app:latest": BuiltImage,
		"127.0.0.1:5000/tool-bot/app":                    BuiltImage,
		"localhost/tool-bot/app":                         BuiltImage,
		"python3.11":                                     CatalogueImage,
		"tf-python39":                                    CatalogueImage,
		"toolforge-python311-sssd-base:latest":           CatalogueImage,
		"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web": CatalogueImage,
		"tools-bot/app":             CatalogueImage, // not tool-
		"tool-/app":                 CatalogueImage,
		"tool-Bot/app":              CatalogueImage,
		"tool-bot/app/extra":        CatalogueImage, // a host needs a dot, a port or localhost
		"a.b/c/tool-bot/app":        CatalogueImage,
		"tool-bot/App":              CatalogueImage,
		"tool-bot/app:":             CatalogueImage,
		"tool-bot/app@sha256:short": CatalogueImage,
		"":                          CatalogueImage,
	} {
		if got := KindOfImage(ref); got != want {
			t.Errorf("KindOfImage(%q) = %s, want %s", ref, got, want)
		}
	}
	r, ok := ParseBuiltImage("registry.example:5000/tool-bot/app:v1@" + digest)
	if want := (BuiltRef{Host: "registry.example:5000", Tool: "bot", Name: "app", Tag: "v1", Digest: digest}); !ok || r != want || r.Repository() != "tool-bot/app" {
		t.Fatalf("ParseBuiltImage = %+v %v", r, ok)
	}
}

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in    string
		port  int
		proto string
		ok    bool
	}{{"8080", 8080, "", true}, {"53/udp", 53, "udp", true}, {"80/TCP", 80, "tcp", true}, {"http", 0, "", false}} {
		port, proto, err := ParsePort(tc.in)
		if (err == nil) != tc.ok || port != tc.port || proto != tc.proto {
			t.Errorf("ParsePort(%q) = %d %q %v", tc.in, port, proto, err)
		}
	}
}

func TestUserCommandUndoesFileLogCommand(t *testing.T) {
	for _, c := range []struct{ cmd, out, err string }{
		{"./run.sh --x", "run.out", "run.err"},
		{"echo 'a'; exit 3", "both.log", "both.log"},
		{"true", "it's.out", "/abs/path with space.err"},
	} {
		shell := FileLogCommand(c.cmd, c.out, c.err)
		if shell == c.cmd {
			t.Fatalf("FileLogCommand(%q) adds nothing", c.cmd)
		}
		if got := UserCommand(shell); got != c.cmd {
			t.Errorf("UserCommand(%q) = %q, want %q", shell, got, c.cmd)
		}
	}
	if got := UserCommand("exec 1>>x ./not-ours"); got != "exec 1>>x ./not-ours" {
		t.Errorf("a command of the tool's own is changed: %q", got)
	}
}
