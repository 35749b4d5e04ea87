package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

// storeHelp is appended to the help of every command that takes a STORE.
const storeHelp = `
STORE is a URL: the scheme picks the backend, layout= the framework layout.
  file:///var/lib/php/sessions                      PHP's files handler (sess_<id>)
  file:///app/writable/session?layout=ci4           CodeIgniter 4 files
  redis://127.0.0.1:6379/0                          phpredis (PHPREDIS_SESSION:<id>)
  redis://127.0.0.1:6379?layout=ci3                 CodeIgniter 3 Redis (ci_session:<id>)
  redis://127.0.0.1:6379?layout=phalcon5            Phalcon 5 Redis (sess-reds-<id>)
  redis+cluster://10.0.0.1:7000,10.0.0.2:7000       Redis Cluster (also redis+sentinel://)
  memcached://127.0.0.1:11211                       php-memcached (memc.sess.key.<id>)
  memcache://127.0.0.1:11211                        pecl memcache (<id>)
  mysql://user:pass@127.0.0.1:3306/app?layout=ci4   CodeIgniter 4 database
  postgres://user:pass@127.0.0.1/app?layout=ci3     CodeIgniter 3 database
  mysql://user:pass@db/app?layout=incubator         Phalcon incubator Database
  mongodb://127.0.0.1:27017/app?layout=incubator    Phalcon incubator Mongo
  sqlite:///var/lib/app/dalmp.db?layout=dalmp       DALMP SQLite (also dalmp on file, redis,
                                                    memcache, mysql)
Options every store takes: handler=php|php_binary|php_serialize (PHP's
session.serialize_handler, default php), ttl=SECONDS, lock=on|off,
lock_timeout=SECONDS. README.md lists each backend's own options.`

// openStore opens the store named by a URL argument.
func openStore(ctx context.Context, rawURL string) (handlers.Store, error) {
	s, err := handlers.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// notFound turns ErrNotFound into exit code 3.
func notFound(err error) error {
	if errors.Is(err, handlers.ErrNotFound) {
		return withCode(ExitNotFound, err)
	}
	return err
}

func completeStores(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, s := range handlers.Schemes() {
		out = append(out, s+"://")
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// checkPayload refuses a payload PHP could not decode with the store's
// handler: PHP would destroy such a session.
func checkPayload(h phpserialize.Handler, id string, data []byte) error {
	if err := phpserialize.ValidateSession(h, data); err != nil {
		return fmt.Errorf("session %q: not a valid %s payload, nothing written (PHP would destroy the session): %w", id, h, err)
	}
	return nil
}

// secondsFlag turns a --ttl in seconds into a duration (0 stays 0: the
// store's default).
func secondsFlag(n int) time.Duration { return time.Duration(n) * time.Second }
