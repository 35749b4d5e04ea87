package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/spf13/cobra"
)

func (a *app) lsCmd() *cobra.Command {
	var long bool
	var output string
	c := &cobra.Command{
		Use:   "ls STORE",
		Short: "List session ids",
		Long: `Ls prints the id of every session in STORE, one a line, as it finds them: it
streams (Redis SCAN, SQL pages, a directory walk, memcached's lru_crawler), so a
store with millions of sessions starts printing at once and uses little memory.
With --long it also reads each session and prints its size and remaining ttl.
` + storeHelp,
		Example: `  phpsess ls file:///var/lib/php/sessions | wc -l
  phpsess ls -l 'redis://127.0.0.1:6379?layout=ci4'
  phpsess ls --output json 'mysql://app:secret@db/app?layout=ci3' | jq -r 'select(.ttl < 60) | .id'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			ctx := c.Context()
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			l, ok := s.(handlers.Lister)
			if !ok {
				return fmt.Errorf("%s stores cannot list their sessions", s.Info().Backend)
			}
			w := bufio.NewWriter(a.stdout)
			defer w.Flush()
			return l.List(ctx, func(id string) error {
				if !long && output == "text" {
					_, err := fmt.Fprintln(w, id)
					return err
				}
				var size, ttl int64 = -1, -1
				if long {
					rec, err := s.Read(ctx, id)
					if errors.Is(err, handlers.ErrNotFound) {
						return nil // expired since it was listed
					}
					if err != nil {
						return err
					}
					size, ttl = int64(len(rec.Data)), int64(rec.TTL/time.Second)
				}
				if output == "json" {
					line := appendJSONString([]byte(`{"id":`), id)
					if long {
						line = fmt.Appendf(line, `,"size":%d,"ttl":%d`, size, ttl)
					}
					_, err := w.Write(append(line, '}', '\n'))
					return err
				}
				_, err := fmt.Fprintf(w, "%s\t%d\t%d\n", id, size, ttl)
				return err
			})
		},
	}
	c.Flags().BoolVarP(&long, "long", "l", false, "also print each session's size in bytes and remaining ttl in seconds")
	c.Flags().StringVarP(&output, "output", "o", "text", "text (tab-separated) or json (one object a line)")
	return c
}
