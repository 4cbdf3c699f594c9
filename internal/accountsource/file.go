package accountsource

import (
	"context"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// File reads accounts from a YAML file:
//
//	tools:
//	  - {name: demo, uid: 50001, home: /path/demo, maintainers: [alice], disabled: false}
//	admins:
//	  - {name: alice, uid: 40001, home: /path/alice}
//
// The file is read afresh on every Load, so edits take effect at the next
// resync.
type File struct{ Path string }

type fileFormat struct {
	Tools  []fileTool  `json:"tools"`
	Admins []fileAdmin `json:"admins"`
}

type fileTool struct {
	Name        string   `json:"name"`
	UID         *int64   `json:"uid"`
	Home        string   `json:"home"`
	Maintainers []string `json:"maintainers"`
	Disabled    bool     `json:"disabled"`
}

type fileAdmin struct {
	Name string `json:"name"`
	UID  *int64 `json:"uid"`
	Home string `json:"home"`
}

func (f File) String() string { return "file " + f.Path }

// Load implements Source. A file that cannot be read or parsed is an error;
// an entry without a name or uid is reported as Invalid.
func (f File) Load(context.Context) (Snapshot, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read accounts file: %w", err)
	}
	var doc fileFormat
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return Snapshot{}, fmt.Errorf("parse accounts file %s: %w", f.Path, err)
	}
	var s Snapshot
	for i, t := range doc.Tools {
		id := fmt.Sprintf("tools[%d]", i)
		if t.Name != "" {
			id = fmt.Sprintf("tools[%d] (%s)", i, t.Name)
		}
		switch {
		case t.Name == "":
			s.Invalid = append(s.Invalid, Invalid{ID: id, Reason: "name is required"})
		case t.UID == nil:
			s.Invalid = append(s.Invalid, Invalid{ID: id, Reason: "uid is required"})
		case *t.UID <= 0:
			s.Invalid = append(s.Invalid, Invalid{ID: id, Reason: fmt.Sprintf("uid must be positive (got %d)", *t.UID)})
		default:
			s.Tools = append(s.Tools, Tool{Name: t.Name, UID: *t.UID, Home: t.Home, Maintainers: t.Maintainers, Disabled: t.Disabled})
		}
	}
	for i, a := range doc.Admins {
		id := fmt.Sprintf("admins[%d]", i)
		if a.Name != "" {
			id = fmt.Sprintf("admins[%d] (%s)", i, a.Name)
		}
		switch {
		case a.Name == "":
			s.Invalid = append(s.Invalid, Invalid{ID: id, Reason: "name is required"})
		case a.UID == nil:
			s.Invalid = append(s.Invalid, Invalid{ID: id, Reason: "uid is required"})
		default:
			s.Admins = append(s.Admins, Admin{Name: a.Name, UID: *a.UID, Home: a.Home})
		}
	}
	return s, nil
}
