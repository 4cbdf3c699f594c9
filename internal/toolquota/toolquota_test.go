package toolquota

import (
	"strings"
	"testing"
)

func TestOverridesAreCheckedKeyByKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // error substring; "" for accepted
	}{
		{"known keys and quantities are accepted", []string{"pods=8", "requests.cpu=500m", "limits.memory=12Gi"}, ""},
		{"object counts of any kind are accepted", []string{"count/deployments.apps=5", "count/jobs.batch=20"}, ""},
		{"an unknown key is refused with the allowed names", []string{"podz=3"}, `unknown quota key "podz" (allowed: configmaps, cpu, ephemeral-storage`},
		{"an empty count is refused", []string{"count/=3"}, `unknown quota key "count/"`},
		{"a quantity that does not parse is refused", []string{"pods=many"}, `"many" is not a quantity`},
		{"a negative quantity is refused", []string{"pods=-2"}, "cannot be negative"},
		{"every bad argument is named", []string{"x=1", "pods"}, `unknown quota key "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTheAnnotationRoundTripsAndABadOneIsRefusedWhole(t *testing.T) {
	list, err := ParseArgs([]string{"pods=8", "limits.cpu=4"})
	if err != nil {
		t.Fatal(err)
	}
	enc := Encode(list)
	if enc != `{"limits.cpu":"4","pods":"8"}` {
		t.Errorf("encoded %s", enc)
	}
	back, err := Decode(enc)
	if err != nil || Encode(back) != enc {
		t.Errorf("decoded %v %v", back, err)
	}
	if Encode(nil) != "" {
		t.Error("no overrides should encode as nothing")
	}
	for _, bad := range []string{`{"pods":"8","podz":"1"}`, `{"pods":8}`, `not json`} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%s) accepted", bad)
		}
	}
}
