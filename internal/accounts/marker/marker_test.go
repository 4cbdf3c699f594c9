package marker

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
)

func TestAMarkerReadsBackAsItWasWritten(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	w := account.Writer{Client: c, APIReader: c}
	ctx := context.Background()
	key := ToolKey("alpha")
	if _, ok, err := Read(ctx, c, key); err != nil || ok {
		t.Fatalf("a missing marker: exists %v, %v", ok, err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := Marker{Status: StatusProvisioned, Fingerprint: "ab12", Expiry: at.Add(time.Hour), Issued: at}
	if r, err := Write(ctx, w, key, account.ToolLabels("alpha"), want); err != nil || r != ensure.Created {
		t.Fatalf("write: %v %v", r, err)
	}
	got, ok, err := Read(ctx, c, key)
	if err != nil || !ok || got != want {
		t.Fatalf("read back %+v (%v, %v), want %+v", got, ok, err, want)
	}
	if r, err := Write(ctx, w, key, account.ToolLabels("alpha"), want); err != nil || r != ensure.Unchanged {
		t.Fatalf("writing it again: %v %v, want unchanged", r, err)
	}
}

func TestARefusedAccountsMarkerSaysWhyAndKeepsItsCredentialsRecord(t *testing.T) {
	m := Marker{Status: StatusRefused, Reason: ReasonHomeRefused, Message: "home /etc is outside the tool home root /data/project", Fingerprint: "ab12"}
	d := m.Data()
	if d["status"] != "refused" || d["reason"] != "HomeRefused" || d["message"] != m.Message || d["certificate-sha256"] != "ab12" {
		t.Fatalf("data %v", d)
	}
	if got := Parse(d); got.Reason != m.Reason || got.Message != m.Message || got.Fingerprint != m.Fingerprint {
		t.Fatalf("parsed %+v", got)
	}
	if _, ok := (Marker{Status: StatusProvisioned}).Data()["reason"]; ok {
		t.Fatal("a provisioned marker keeps a reason")
	}
}

func TestAMarkerWithoutCredentialsHoldsOnlyItsStatus(t *testing.T) {
	d := Marker{Status: StatusDisabled}.Data()
	if len(d) != 1 || d["status"] != "disabled" {
		t.Fatalf("data %v", d)
	}
}

func TestAnAdminsMarkerIsInThePlatformNamespace(t *testing.T) {
	if k := AdminKey("toolforge", "alice"); k.Namespace != "toolforge" || k.Name != "maintain-kubeusers-admin-alice" {
		t.Fatalf("key %v", k)
	}
	if k := ToolKey("alpha"); k.Namespace != "tool-alpha" || k.Name != "maintain-kubeusers" {
		t.Fatalf("key %v", k)
	}
}
