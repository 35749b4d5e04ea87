package cmd

import (
	"fmt"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

func (a *app) putCmd() *cobra.Command {
	var raw bool
	var ttl int
	var ip string
	c := &cobra.Command{
		Use:   "put STORE ID [FILE|-]",
		Short: "Write one session from JSON",
		Long: `Put writes session ID to STORE from the JSON form (as get and decode print it),
or with --raw from payload bytes. The data is encoded with the store's handler
and checked before anything is written: data PHP could not decode is refused
(PHP would destroy the session). With locking on (the default for most
layouts) the write waits for the PHP side's lock, as a PHP request would.
` + storeHelp,
		Example: `  echo '{"user_id":42,"roles":["admin"]}' | phpsess put file:///var/lib/php/sessions k3j5ifd0a1b2c3d4e5f6g7h8i9
  phpsess get redis://old:6379 ID | phpsess put redis://new:6379 ID
  phpsess put --raw --ttl 600 'memcached://127.0.0.1:11211' ID backup.sess`,
		Args:              cobra.RangeArgs(2, 3),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			in := "-"
			if len(args) == 3 {
				in = args[2]
			}
			input, err := readInput(a.stdin, in)
			if err != nil {
				return err
			}
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			h := s.Info().Handler
			var data []byte
			if raw {
				data = input
			} else {
				sess, err := phpserialize.ParseSessionJSON(h, input)
				if err != nil {
					return fmt.Errorf("%s: %w", inputName(in), err)
				}
				if data, err = phpserialize.EncodeSession(h, sess); err != nil {
					return fmt.Errorf("session %q: nothing written: %w", args[1], err)
				}
			}
			if err := checkPayload(h, args[1], data); err != nil {
				return err
			}
			rec := &handlers.Record{ID: args[1], Data: data, TTL: secondsFlag(ttl)}
			rec.Meta.IP = ip
			return s.Write(ctx, rec)
		},
	}
	c.Flags().BoolVar(&raw, "raw", false, "the input is payload bytes (checked, then stored as they are)")
	c.Flags().IntVar(&ttl, "ttl", 0, "lifetime in seconds (default: the store's ttl= or the layout's default)")
	c.Flags().StringVar(&ip, "ip", "", "client IP to record (CodeIgniter's ip_address; the key part with match_ip)")
	return c
}
