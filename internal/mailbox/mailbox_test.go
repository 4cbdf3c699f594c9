package mailbox

import (
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAMessageSentIsKeptAndWrittenToTheDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Start("127.0.0.1:0", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := "From: root@toolforge.org\r\nTo: tools.demo@toolforge.test\r\nSubject: [Toolforge] [demo] notification about job hello\r\n\r\nJob hello failed.\r\n"
	if err := smtp.SendMail(s.Addr, nil, "root@toolforge.org", []string{"tools.demo@toolforge.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 || got[0].Subject != "[Toolforge] [demo] notification about job hello" || got[0].From != "root@toolforge.org" ||
		len(got[0].To) != 1 || got[0].To[0] != "tools.demo@toolforge.test" || !strings.Contains(got[0].Body, "Job hello failed.") {
		t.Fatalf("kept %+v", got)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "0001.eml"))
	if err != nil || !strings.Contains(string(raw), "Subject: [Toolforge] [demo]") {
		t.Fatalf("written: %q, %v", raw, err)
	}
}
