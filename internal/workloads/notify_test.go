package workloads_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/mailbox"
)

func TestAFailedRunIsMailedAndASuccessfulOneIsNot(t *testing.T) {
	p := setup(t)
	t.Parallel()
	run := func(name, command string, code int) {
		if r := p.toolforge(t, "mailer", "jobs", "run", name, "--image", "python3.11", "--emails", "onfailure", "--wait", "300", "--command", command); r.Code != code {
			t.Fatalf("%s: %s", name, r)
		}
	}
	run("broken", "echo failing; exit 3", 3)
	run("working", "echo fine", 0)
	// A last failure: once its message is in, every earlier event has had
	// its chance to be sent.
	run("sentinel", "exit 4", 4)
	var msgs []*mailbox.Message
	until(t, time.Minute, func() error {
		msgs = p.Mail.Messages()
		for _, m := range msgs {
			if strings.Contains(m.Body, "Job 'sentinel'") {
				return nil
			}
		}
		return fmt.Errorf("%d message(s), none about the sentinel", len(msgs))
	})
	var broken *mailbox.Message
	for _, m := range msgs {
		if strings.Contains(m.Body, "Job 'working'") {
			t.Fatalf("a successful run of an onfailure job was mailed:\n%s", m.Body)
		}
		if strings.Contains(m.Body, "Job 'broken'") {
			broken = m
		}
	}
	if broken == nil {
		t.Fatalf("no message about the failed job among %d", len(msgs))
	}
	if broken.Subject != "[Toolforge] [mailer] notification about job broken" || len(broken.To) != 1 || broken.To[0] != "tools.mailer@toolforge.test" {
		t.Fatalf("message: subject %q, to %v", broken.Subject, broken.To)
	}
	if !strings.Contains(broken.Body, "Exit code was '3'") || !strings.Contains(broken.Body, "(emails: onfailure)") {
		t.Fatalf("body:\n%s", broken.Body)
	}
}
