// Command toolforged runs the platform's services.
package main

import (
	"github.com/toolforge-go/toolforge/internal/accounts"
	"github.com/toolforge-go/toolforge/internal/admission"
	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/etcdbackup"
	"github.com/toolforge-go/toolforge/internal/logs/events"
	"github.com/toolforge-go/toolforge/internal/logs/ingest"
	"github.com/toolforge-go/toolforge/internal/notify"
	"github.com/toolforge-go/toolforge/internal/status"
)

func main() { daemon.Main(services()...) }

func services() []daemon.Service {
	return []daemon.Service{
		accounts.NewService(),
		admission.NewService(),
		api.NewService(),
		status.NewService(),
		notify.NewService(),
		ingest.NewService(),
		events.NewService(),
		etcdbackup.NewService(), // not in all: see its StandaloneOnly
	}
}
