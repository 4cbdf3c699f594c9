package workloads_test

import (
	"bytes"
	"io"
	"net"
	"net/mail"
	"sync"

	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server, in the test process, keeping every
// message it is given: where the platform's notifier sends.
type mailbox struct {
	Addr string
	srv  *smtp.Server

	mu   sync.Mutex
	msgs []*received
}

type received struct {
	From    string
	To      []string
	Subject string
	Body    string
}

func startMailbox() (*mailbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mailbox{Addr: ln.Addr().String()}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.AllowInsecureAuth = true
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

// messages are the messages received so far.
func (m *mailbox) messages() []*received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*received(nil), m.msgs...)
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{box: m}, nil }

type session struct {
	box  *mailbox
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, &received{From: s.from, To: s.to, Subject: msg.Header.Get("Subject"), Body: string(body)})
	s.box.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
