package cmd

import (
	"fmt"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

func (a *app) getCmd() *cobra.Command {
	var raw, long, pretty bool
	c := &cobra.Command{
		Use:   "get STORE ID",
		Short: "Print one session as JSON",
		Long: `Get reads session ID from STORE and prints its data as JSON, exactly as decode
prints it. A session that does not exist or has expired exits with code 3.
` + storeHelp,
		Example: `  phpsess get file:///var/lib/php/sessions k3j5ifd0a1b2c3d4e5f6g7h8i9
  phpsess get 'redis://127.0.0.1:6379/0' k3j5ifd0a1b2c3d4e5f6g7h8i9 | jq .user_id
  phpsess get --raw 'memcached://10.0.0.5:11211' k3j5... > backup.sess
  phpsess get --long 'mysql://app:secret@db/app?layout=ci4' 7f3a...  # with ttl, ip, modified`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			rec, err := s.Read(ctx, args[1])
			if err != nil {
				return notFound(err)
			}
			if raw {
				_, err := a.stdout.Write(rec.Data)
				return err
			}
			sess, err := phpserialize.DecodeSession(s.Info().Handler, rec.Data)
			if err != nil {
				return fmt.Errorf("session %q in %s: %w", args[1], s.Info().URL, err)
			}
			data := phpserialize.AppendSessionJSON(nil, sess)
			if long {
				line := []byte(`{"id":`)
				line = appendJSONString(line, rec.ID)
				line = fmt.Appendf(line, `,"ttl":%d`, int64(rec.TTL/time.Second))
				if !rec.Modified.IsZero() {
					line = fmt.Appendf(line, `,"modified":%q`, rec.Modified.UTC().Format(time.RFC3339))
				}
				if rec.Meta.IP != "" {
					line = append(line, `,"ip":`...)
					line = appendJSONString(line, rec.Meta.IP)
				}
				if rec.Meta.Ref != "" {
					line = append(line, `,"ref":`...)
					line = appendJSONString(line, rec.Meta.Ref)
				}
				line = append(line, `,"data":`...)
				data = append(append(line, data...), '}')
			}
			return writeJSON(a.stdout, data, pretty)
		},
	}
	c.Flags().BoolVar(&raw, "raw", false, "print the stored payload bytes, not JSON")
	c.Flags().BoolVarP(&long, "long", "l", false, "print {id, ttl, modified, ip, ref, data}")
	c.Flags().BoolVar(&pretty, "pretty", false, "indent the JSON")
	return c
}
