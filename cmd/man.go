package cmd

import (
	"fmt"
	"os"

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
them where man looks, such as /usr/local/share/man/man1.`,
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
			hdr := &doc.GenManHeader{Title: "PHPSESS", Section: "1", Source: "phpsess " + Version, Manual: "phpsess manual"}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			fmt.Fprintf(a.stderr, "phpsess: man pages written to %s\n", dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory to write the pages into (created if missing)")
	_ = c.MarkFlagDirname("dir")
	return c
}
