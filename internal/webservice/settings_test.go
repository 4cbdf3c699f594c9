package webservice

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	manifest := Source{Name: "/home/t/service.manifest", Choices: Choices{Type: "python3.11", CPU: "250m", Mem: "1Gi"}}
	template := Source{Name: "/home/t/service.template", Choices: Choices{Type: "node20", CPU: "1", Mem: "2Gi", Replicas: "2"}}
	cases := []struct {
		name    string
		sources []Source
		want    Choices
	}{
		{"defaults apply when no source says anything", nil,
			Choices{Type: DefaultType, CPU: "500m", Mem: "512Mi", Replicas: "1"}},
		{"the template fills in what the manifest leaves out", []Source{FlagSource(Choices{}), manifest, template},
			Choices{Type: "python3.11", CPU: "250m", Mem: "1Gi", Replicas: "2"}},
		{"flags win over the manifest and the template", []Source{FlagSource(Choices{Type: "php8.2", Mem: "768Mi", Replicas: "3"}), manifest, template},
			Choices{Type: "php8.2", CPU: "250m", Mem: "768Mi", Replicas: "3"}},
		{"the manifest wins over the template", []Source{manifest, template},
			Choices{Type: "python3.11", CPU: "250m", Mem: "1Gi", Replicas: "2"}},
		{"a template alone gives every setting", []Source{FlagSource(Choices{}), {Name: "m"}, template},
			Choices{Type: "node20", CPU: "1", Mem: "2Gi", Replicas: "2"}},
		{"a CPU amount given as a fraction is kept in canonical form", []Source{FlagSource(Choices{CPU: "0.5"})},
			Choices{Type: DefaultType, CPU: "500m", Mem: "512Mi", Replicas: "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Resolve(tc.sources...)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Choices(); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResolveRefusesBadValuesNamingWhereTheyCameFrom(t *testing.T) {
	cases := []struct {
		name    string
		sources []Source
		want    []string
	}{
		{"a memory flag that is not a size", []Source{FlagSource(Choices{Mem: "lots"})}, []string{"--mem lots", "512Mi"}},
		{"a negative CPU flag", []Source{FlagSource(Choices{CPU: "-1"})}, []string{"--cpu -1", "positive"}},
		{"zero replicas", []Source{FlagSource(Choices{Replicas: "0"})}, []string{"--replicas 0", "at least 1"}},
		{"replicas that are not a number", []Source{FlagSource(Choices{Replicas: "two"})}, []string{"--replicas two"}},
		{"a bad memory size in the template", []Source{FlagSource(Choices{}), {Name: "/home/t/service.template", Choices: Choices{Mem: "1 GB"}}},
			[]string{"mem: 1 GB in /home/t/service.template"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(tc.sources...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDescribeNamesTheSourceOfEachSetting(t *testing.T) {
	s, err := Resolve(FlagSource(Choices{Mem: "1Gi"}), Source{Name: "/h/service.template", Choices: Choices{CPU: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		fieldMem:      "--mem 1Gi",
		fieldCPU:      "cpu: 1 in /h/service.template",
		fieldReplicas: "the default replicas 1",
	} {
		if got := s.Describe(field); got != want {
			t.Errorf("Describe(%s) = %q, want %q", field, got, want)
		}
	}
}
