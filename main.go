// Command phpsess reads, writes and moves live PHP sessions. See README.md.
package main

import (
	"os"

	"github.com/phpsess/phpsess/cmd"
)

func main() {
	os.Exit(cmd.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
