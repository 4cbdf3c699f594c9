package webservice

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestManifestRoundTripAndStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), ManifestFile)
	m, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Running() || m.Choices() != (Choices{}) {
		t.Fatalf("a missing manifest should be empty, got %+v", m)
	}
	s, err := Resolve(FlagSource(Choices{Type: "python3.11", CPU: "250m", Mem: "1Gi", Replicas: "2"}))
	if err != nil {
		t.Fatal(err)
	}
	m.SetRunning(s)
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := manifestHeader + "backend: kubernetes\ncpu: 250m\nmem: 1Gi\nreplicas: 2\ntype: python3.11\nweb: python3.11\n"
	if string(data) != want {
		t.Fatalf("manifest:\n%s\nwant:\n%s", data, want)
	}

	m, err = ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Running() || m.Choices() != s.Choices() {
		t.Fatalf("read back %+v", m)
	}
	m.SetStopped()
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	m, err = ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Running() {
		t.Error("a stopped manifest still says running")
	}
	if m.Choices() != s.Choices() {
		t.Errorf("stop lost the settings: %+v", m.Choices())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the manifest: %v", entries)
	}
}

func TestManifestOfTheOriginalIsUnderstoodAndItsOtherKeysKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), ManifestFile)
	writeFile(t, path, "# comment\nbackend: kubernetes\ndistribution: debian\nversion: 4\nweb: php7.4\ncpu: 0.5\nreplicas: 2\n")
	m, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Running() || m.Type != "php7.4" || m.CPU != "0.5" || m.Replicas != "2" {
		t.Fatalf("read %+v", m)
	}
	m.SetStopped()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"distribution: debian\n", "version: 4\n", "type: php7.4\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("rewritten manifest lost %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "web:") {
		t.Errorf("stopped manifest still has web:\n%s", data)
	}
}

func TestCorruptManifestIsAnErrorNamingTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ManifestFile)
	writeFile(t, path, "web: [unclosed\n")
	if _, err := ReadManifest(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadTemplate(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    Template
		wantErr string
	}{
		{"the original's template applies, extra_args included",
			"backend: kubernetes\ncpu: 1\nmem: 2Gi\nreplicas: 2\ntype: python3.11\nextra_args: [serve, --port, 8000]\n",
			Template{Choices: Choices{Type: "python3.11", CPU: "1", Mem: "2Gi", Replicas: "2"}, ExtraArgs: []string{"serve", "--port", "8000"}}, ""},
		{"one extra argument may be a string", "extra_args: ./serve.sh\n", Template{ExtraArgs: []string{"./serve.sh"}}, ""},
		{"an empty template says nothing", "# nothing\n", Template{}, ""},
		{"unknown keys are reported, and the rest applies", "memory: 1Gi\nmem: 2Gi\nhealth-check-path: /x\n",
			Template{Choices: Choices{Mem: "2Gi"}, Unknown: []string{"health-check-path", "memory"}}, ""},
		{"the grid engine backend is refused", "backend: gridengine\n", Template{}, "gone"},
		{"a template that is not YAML is refused", "type: [\n", Template{}, "is not a YAML mapping"},
		{"a template that is a list is refused", "- type: php8.2\n", Template{}, "is not a YAML mapping"},
		{"a template that is a word is refused", "python3.11\n", Template{}, "is not a YAML mapping"},
		{"extra_args that are a mapping are refused", "extra_args: {a: b}\n", Template{}, "extra_args"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), TemplateFile)
			writeFile(t, path, tc.content)
			got, err := ReadTemplate(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if c, err := ReadTemplate(filepath.Join(t.TempDir(), "absent")); err != nil || !reflect.DeepEqual(c, Template{}) {
		t.Errorf("missing template: %+v, %v", c, err)
	}
}
