// Package e2e runs two `toolforged all` against one devcluster (with a
// real node, so jobs really run and really fail, and the API server's
// audit log): each service that writes has one writer, seen by the API
// server, and the notifier mails each job's failure once, through an SMTP
// outage and through the loss of its leader.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/mailbox"
	"github.com/toolforge-go/toolforge/internal/notify"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{RealNodes: 1, AuditLog: true}, &cluster)
}

const domain = "toolforge.localhost"

// The services that write, each with its leader.
var leaders = []string{"accounts", "admission", "notifier"}

// platform starts `toolforged all` with the test's SMTP server, mailing
// every second, retrying up to every 4 s.
func platform(t *testing.T, smtp string) *testcluster.Platform {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := cluster.StartPlatform(ctx, domain, "--smtp-server", smtp, "--mail-interval", "1s", "--mail-retry-max", "4s",
		"--mail-to", "tools.{tool}@toolforge.test", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// holder is who holds service's lease now ("" for nobody).
func holder(t *testing.T, service string) string {
	t.Helper()
	l, err := cluster.Client.CoordinationV1().Leases(tenancy.PlatformNamespace).Get(context.Background(), daemon.LeaseName(service), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitLeader waits until every leader service's lease is held by one
// process, not not, and returns it.
func waitLeader(t *testing.T, not string) string {
	t.Helper()
	var id string
	testcluster.Eventually(t, time.Minute, func() error {
		id = holder(t, leaders[0])
		for _, s := range leaders {
			if h := holder(t, s); h == "" || h == not || h != id {
				return fmt.Errorf("lease %s held by %q (accounts' by %q, not wanted %q)", daemon.LeaseName(s), h, id, not)
			}
		}
		return nil
	})
	return id
}

// writes are the writes since mark by service (its user agent), leases
// aside: each process renews its own.
func writes(t *testing.T, mark testcluster.AuditMark, service string) []testcluster.AuditEvent {
	t.Helper()
	evs, err := cluster.AuditEventsSince(context.Background(), mark, func(e testcluster.AuditEvent) bool {
		return strings.HasPrefix(e.UserAgent, "toolforged-"+service+"/") && e.ObjectRef.Resource != "leases"
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// onlyBy fails unless every write was made by the process id, and there
// was at least one.
func onlyBy(t *testing.T, service, id string, evs []testcluster.AuditEvent) {
	t.Helper()
	if len(evs) == 0 {
		t.Errorf("%s: no writes to judge", service)
	}
	for _, e := range evs {
		if !strings.Contains(e.UserAgent, id) {
			t.Errorf("%s: a write by another process than the leader %s: %s (%s)", service, id, e, e.UserAgent)
		}
	}
}

// repairByAccounts deletes a role binding the accounts controller owns and
// waits until it is back: a write only the leader makes.
func repairByAccounts(t *testing.T, tool string) {
	t.Helper()
	rbs := cluster.Client.RbacV1().RoleBindings("tool-" + tool)
	name := tool + "-tool-binding"
	if err := rbs.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, time.Minute, func() error {
		_, err := rbs.Get(context.Background(), name, metav1.GetOptions{})
		return err
	})
}

// state is the notifier's pending state of tool in the cluster.
type state struct {
	Pending []struct {
		Job string `json:"job"`
	} `json:"pending"`
	Sending *struct {
		MessageID string `json:"messageID"`
	} `json:"sending"`
	Failures int `json:"failures"`
}

func stateOf(t *testing.T, tool string) (state, bool) {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(context.Background(), notify.StateConfigMap(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return state{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal([]byte(cm.Data["state"]), &st); err != nil {
		t.Fatal(err)
	}
	return st, true
}

// failJobs runs each job as tool, failing, asking for mail on failure.
func failJobs(t *testing.T, tool *testcluster.Tool, cli string, names ...string) {
	t.Helper()
	for _, name := range names {
		r := tool.Run(t, "", nil, cli, "jobs", "run", name, "--image", "python3.11", "--emails", "onfailure", "--wait", "300", "--command", "echo failing; exit 3")
		if r.Code != 3 {
			t.Fatalf("jobs run %s: %s", name, r)
		}
	}
}

// outageSeen waits until the jobs' failures are kept in the cluster and
// the SMTP server has refused an attempt at them: the notifier is in the
// middle of its batch.
func outageSeen(t *testing.T, tool string, jobs ...string) state {
	t.Helper()
	var st state
	testcluster.Eventually(t, 2*time.Minute, func() error {
		var ok bool
		st, ok = stateOf(t, tool)
		kept := map[string]bool{}
		for _, p := range st.Pending {
			kept[p.Job] = true
		}
		for _, j := range jobs {
			if !kept[j] {
				return fmt.Errorf("job %s's failure is not kept (%d events pending)", j, len(st.Pending))
			}
		}
		if !ok || st.Failures == 0 || st.Sending == nil {
			return fmt.Errorf("kept: %d events pending, %d failures, sending %v", len(st.Pending), st.Failures, st.Sending != nil)
		}
		return nil
	})
	return st
}

// mailedOnce waits until every job's failure was mailed to box (a server
// started after the outage) and nothing is left pending, then checks that
// no event was mailed twice (a pod's end may be two events, its phase
// running then failed, each told once): once the state says sent, no
// notifier sends it again.
func mailedOnce(t *testing.T, box *mailbox.Server, tool string, jobs ...string) []*mailbox.Message {
	t.Helper()
	var msgs []*mailbox.Message
	testcluster.Eventually(t, 2*time.Minute, func() error {
		if st, ok := stateOf(t, tool); ok && (len(st.Pending) > 0 || st.Sending != nil) {
			return fmt.Errorf("%d events still pending", len(st.Pending))
		}
		msgs = box.Messages()
		for _, j := range jobs {
			if !mentioned(msgs, j) {
				return fmt.Errorf("%d messages, none about job %s", len(msgs), j)
			}
		}
		return nil
	})
	told := map[string]int{}
	for _, m := range msgs {
		for _, line := range strings.Split(m.Body, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "-- Pod '") {
				told[strings.TrimSpace(line)]++
			}
		}
	}
	for line, n := range told {
		if n != 1 {
			t.Errorf("an event was mailed %d times: %s", n, line)
		}
	}
	return msgs
}

func mentioned(msgs []*mailbox.Message, job string) bool {
	for _, m := range msgs {
		if strings.Contains(m.Body, "Job '"+job+"'") {
			return true
		}
	}
	return false
}

func TestTwoPlatformsHaveOneWriterPerServiceAndMailEachFailureOnceThroughOutagesAndALeaderChange(t *testing.T) {
	ctx := context.Background()
	tools, err := cluster.ProvisionTools(ctx, "mailer", "writer")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := testcluster.BuildBinary("toolforge")
	if err != nil {
		t.Fatal(err)
	}
	box, err := mailbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	smtp := box.Addr
	t.Cleanup(func() { _ = box.Close() })

	a := platform(t, smtp)
	idA := waitLeader(t, "")
	b := platform(t, smtp)
	t.Logf("A (%s) leads; B started (log %s)", idA, b.Log)
	mark, err := cluster.AuditMark(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Each part needs the one before it.
	if !t.Run("an SMTP outage delays the mail and sends each once", func(t *testing.T) {
		if err := box.Close(); err != nil {
			t.Fatal(err)
		}
		failJobs(t, tools["mailer"], cli, "outage-a", "outage-b")
		outageSeen(t, "mailer", "outage-a", "outage-b")
		if box, err = mailbox.Start(smtp, ""); err != nil {
			t.Fatal(err)
		}
		mailedOnce(t, box, "mailer", "outage-a", "outage-b")
	}) {
		return
	}

	if !t.Run("while A leads, only A writes", func(t *testing.T) {
		repairByAccounts(t, "writer")
		for _, s := range []string{"accounts", "notifier"} {
			onlyBy(t, s, idA, writes(t, mark, s))
		}
		// Admission's installer (its writes carry no process) wrote
		// nothing since B started: B, not leading, left A's webhook
		// configuration alone.
		evs, err := cluster.AuditEventsSince(ctx, mark, func(e testcluster.AuditEvent) bool {
			return strings.HasSuffix(e.ObjectRef.Resource, "webhookconfigurations")
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 0 {
			t.Errorf("the webhook configurations were written with A leading and converged: %v", evs)
		}
	}) {
		return
	}

	t.Run("a leader lost in the middle of a batch: its successor sends it once", func(t *testing.T) {
		if err := box.Close(); err != nil {
			t.Fatal(err)
		}
		failJobs(t, tools["mailer"], cli, "handover-a", "handover-b")
		st := outageSeen(t, "mailer", "handover-a", "handover-b")
		// A dies as a crash would: it releases nothing.
		if err := a.Kill(); err != nil {
			t.Fatal(err)
		}
		mark, err := cluster.AuditMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		idB := waitLeader(t, idA)
		t.Logf("B (%s) leads", idB)
		if box, err = mailbox.Start(smtp, ""); err != nil {
			t.Fatal(err)
		}
		msgs := mailedOnce(t, box, "mailer", "handover-a", "handover-b")
		resumed := false
		for _, m := range msgs {
			resumed = resumed || m.MessageID == st.Sending.MessageID
		}
		if !resumed {
			t.Errorf("the successor did not send the batch A recorded (%s) under its Message-ID", st.Sending.MessageID)
		}
		repairByAccounts(t, "writer")
		for _, s := range []string{"accounts", "notifier"} {
			onlyBy(t, s, idB, writes(t, mark, s))
		}
	})
}
