// Command toolforge is the tool maintainers' CLI. Installed also as
// `webservice` (a symlink), it runs `toolforge webservice`.
package main

import (
	"os"

	"github.com/toolforge-go/toolforge/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, cli.System()))
}
