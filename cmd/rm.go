package cmd

import (
	"github.com/spf13/cobra"
)

func (a *app) rmCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rm STORE ID...",
		Short: "Delete sessions",
		Long: `Rm deletes the given sessions from STORE, as PHP's session_destroy() does: the
user is logged out. Deleting a session that does not exist is not an error.
` + storeHelp,
		Example: `  phpsess rm file:///var/lib/php/sessions k3j5ifd0a1b2c3d4e5f6g7h8i9
  phpsess ls redis://127.0.0.1:6379 | xargs phpsess rm redis://127.0.0.1:6379`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			for _, id := range args[1:] {
				if err := s.Destroy(ctx, id); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return c
}
