package cmd

import (
	"fmt"

	"github.com/phpsess/phpsess/handlers"
	"github.com/spf13/cobra"
)

func (a *app) gcCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "gc STORE",
		Short: "Delete expired sessions, as PHP's session GC does",
		Long: `Gc removes the sessions of STORE that are older than its lifetime (ttl=), as
PHP's own garbage collection does for layouts that keep no server-side expiry
(files, SQL tables). Redis and memcached expire sessions themselves: there gc
has nothing to do and says so.
` + storeHelp,
		Example: `  phpsess gc 'file:///var/lib/php/sessions?ttl=1440'
  phpsess gc 'mysql://app:secret@db/app?layout=ci4&ttl=7200'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			gc, ok := s.(handlers.Collector)
			if !ok {
				info := s.Info()
				fmt.Fprintf(a.stderr, "phpsess: %s stores in the %s layout have no garbage collection to run: the server expires their sessions, or (DALMP files, PHP's files at depth > 0) PHP never collects them either\n", info.Backend, info.Layout)
				return nil
			}
			n, err := gc.GC(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d expired sessions removed\n", n)
			return nil
		},
	}
	return c
}
