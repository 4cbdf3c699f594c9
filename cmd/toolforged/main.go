// Command toolforged runs the platform's services.
package main

import (
	"github.com/toolforge-go/toolforge/internal/accounts"
	"github.com/toolforge-go/toolforge/internal/admission"
	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/notify"
)

func main() {
	daemon.Main(
		accounts.NewService(),
		admission.NewService(),
		api.NewService(),
		notify.NewService(),
	)
}
