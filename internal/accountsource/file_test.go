package accountsource

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func load(t *testing.T, content string) (Snapshot, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return File{Path: path}.Load(context.Background())
}

func TestFileSource(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    Snapshot
		wantErr string
	}{
		{
			name: "tools and admins with every field are read as written",
			content: `
tools:
  - {name: demo, uid: 50001, home: /srv/demo, maintainers: [alice, bob], disabled: true}
  - {name: other, uid: 50002}
admins:
  - {name: alice, uid: 40001, home: /home/alice}
`,
			want: Snapshot{
				Tools: []Tool{
					{Name: "demo", UID: 50001, Home: "/srv/demo", Maintainers: []string{"alice", "bob"}, Disabled: true},
					{Name: "other", UID: 50002},
				},
				Admins: []Admin{{Name: "alice", UID: 40001, Home: "/home/alice"}},
			},
		},
		{
			name: "entries without a name or uid are reported and the rest still loads",
			content: `
tools:
  - {uid: 1}
  - {name: nouid}
  - {name: negative, uid: -5}
  - {name: good, uid: 7}
admins:
  - {name: nouid}
`,
			want: Snapshot{
				Tools: []Tool{{Name: "good", UID: 7}},
				Invalid: []Invalid{
					{ID: "tools[0]", Reason: "name is required"},
					{ID: "tools[1] (nouid)", Reason: "uid is required"},
					{ID: "tools[2] (negative)", Reason: "uid must be positive (got -5)"},
					{ID: "admins[0] (nouid)", Reason: "uid is required"},
				},
			},
		},
		{
			name:    "an unknown field is an error rather than silently ignored",
			content: "tools:\n  - {name: a, uid: 1, maintainer: [x]}\n",
			wantErr: `unknown field "maintainer"`,
		},
		{
			name:    "a file that is not YAML is an error",
			content: "tools: [\n",
			wantErr: "parse accounts file",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := load(t, tc.content)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAMissingFileIsAnErrorNotAnEmptyList(t *testing.T) {
	_, err := File{Path: filepath.Join(t.TempDir(), "absent.yaml")}.Load(context.Background())
	if err == nil {
		t.Fatal("a missing file loaded as an empty account list: every tool would be removed")
	}
}
