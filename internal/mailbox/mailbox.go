// Package mailbox is a real SMTP server that keeps what it is given: the
// inbox `make run` prints and the tests read, where the platform's
// notifier sends. It accepts every sender and recipient and relays
// nothing.
package mailbox

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message received.
type Message struct {
	From      string
	To        []string
	Subject   string
	MessageID string
	Body      string
}

// Server is the SMTP server and the messages it received.
type Server struct {
	// Addr is where it listens (host:port).
	Addr string
	// Dir, when set, gets each message as <n>.eml as it arrives.
	Dir string

	srv  *smtp.Server
	mu   sync.Mutex
	msgs []*Message
}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves in
// the background until Close.
func Start(addr, dir string) (*Server, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("mailbox directory: %w", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for SMTP on %s: %w", addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), Dir: dir}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Messages are the messages received so far, oldest first.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

func (s *Server) keep(m *Message, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	if s.Dir == "" {
		return nil
	}
	name := filepath.Join(s.Dir, fmt.Sprintf("%04d.eml", len(s.msgs)))
	if err := os.WriteFile(name, raw, 0o644); err != nil { //nolint:gosec // a local inbox the developer reads
		return fmt.Errorf("keep message: %w", err)
	}
	return nil
}

// NewSession is go-smtp's Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{box: s}, nil }

type session struct {
	box  *Server
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	return s.box.keep(&Message{From: s.from, To: s.to, Subject: msg.Header.Get("Subject"), MessageID: msg.Header.Get("Message-ID"), Body: string(body)}, raw)
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
