package cmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func (a *app) manCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write man pages for phpsess and every command",
		Long: `Man writes one man page (section 1) per command into DIR, made from the
commands' own help: phpsess.1, phpsess-get.1, phpsess-find.1, ... Install
them where man looks, such as /usr/local/share/man/man1. A page that cannot be
made is reported and the others are still written (exit code 4).`,
		Example: `  phpsess man --dir /usr/local/share/man/man1 && man phpsess-find`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if dir == "" {
				return usageErr("--dir is required")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := c.Root()
			root.DisableAutoGenTag = true
			hdr := doc.GenManHeader{Section: "1", Source: "phpsess " + Version, Manual: "phpsess manual"}
			written, failed := 0, 0
			var walk func(*cobra.Command) error
			walk = func(cmd *cobra.Command) error {
				if !cmd.IsAvailableCommand() && cmd != root || cmd.IsAdditionalHelpTopicCommand() {
					return nil
				}
				name := strings.ReplaceAll(cmd.CommandPath(), " ", "-") + ".1"
				if err := manPage(cmd, hdr, filepath.Join(dir, name)); err != nil {
					failed++
					fmt.Fprintf(a.stderr, "phpsess: man: %s: %v\n", name, err)
				} else {
					written++
				}
				for _, sub := range cmd.Commands() {
					if err := walk(sub); err != nil {
						return err
					}
				}
				return nil
			}
			if err := walk(root); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "phpsess: %d man pages written to %s\n", written, dir)
			if failed > 0 {
				return withCode(ExitPartial, fmt.Errorf("%d man pages could not be made", failed))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory to write the pages into (created if missing)")
	_ = c.MarkFlagDirname("dir")
	return c
}

// manPage writes one command's man page. Help texts are rendered as
// markdown, where "^[" opens an inline footnote that the renderer
// (go-md2man) panics on; in help texts it is a regular expression, so it is
// escaped (examples are code blocks, left as they are). Any other panic of
// the renderer is an error for this page.
func manPage(cmd *cobra.Command, hdr doc.GenManHeader, path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the man page renderer failed on this command's help text: %v", r)
		}
	}()
	long := cmd.Long
	defer func() { cmd.Long = long }()
	cmd.Long = strings.ReplaceAll(long, "^[", `^\[`)
	var b bytes.Buffer
	if err := doc.GenMan(cmd, &hdr, &b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
