// Command devcluster-sandbox is a devcluster real node's first process: it
// holds the node's namespaces (see package sandbox).
package main

import (
	"os"

	"github.com/toolforge-go/toolforge/devcluster/internal/sandbox"
)

func main() { os.Exit(sandbox.Run(os.Args[1:])) }
