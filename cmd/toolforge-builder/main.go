// Command toolforge-builder builds a tool's image in a build pod
// (`toolforge-builder build …`), copies itself into the pod
// (`toolforge-builder install DEST`), and, installed in the images it
// builds as `launcher`, starts their processes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolforge-go/toolforge/internal/builder"
)

func main() {
	var err error
	if filepath.Base(os.Args[0]) == "launcher" {
		err = builder.Launch(os.Args[1:])
	} else {
		err = builder.Main(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
