// Command toolforge-admin is the platform admins' CLI: observer access,
// quota overrides, credentials, node maintenance, etcd backups, cluster
// migration and component deploys, with the admin's own credentials.
package main

import (
	"os"

	"github.com/toolforge-go/toolforge/internal/admincli"
	"github.com/toolforge-go/toolforge/internal/cli"
)

func main() {
	os.Exit(admincli.Main(os.Args, cli.System()))
}
