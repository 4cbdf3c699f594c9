// Command mailbox is make run's SMTP server: it keeps every message the
// platform sends as a file in --dir, and relays nothing.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/toolforge-go/toolforge/internal/mailbox"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "address to listen for SMTP on")
	dir := flag.String("dir", "mail", "directory each message is written to, as <n>.eml")
	flag.Parse()
	s, err := mailbox.Start(*addr, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbox:", err)
		os.Exit(1)
	}
	slog.Info("mailbox listening", "addr", s.Addr, "dir", s.Dir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = s.Close()
}
