package cmd

import (
	"bufio"
	"fmt"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/ops"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

// whereHelp documents the --where syntax.
const whereHelp = `
--where is a condition on the decoded session data:

    PATH OP VALUE     OP is = != < <= > >= ~ (regexp) !~ ; VALUE a JSON
                      literal: 42, -1.5, "text", true, false, null
    PATH exists       the variable or key is there (even if null)
    not C, C and C, C or C, ( C )

PATH walks session variables, array keys and object properties: user.id is
$_SESSION['user']['id']; roles[0] the element with int key 0; roles[*] any
element; "a.b" (double quotes) a name with dots, brackets or spaces.
= compares numbers as PHP 8 does: 42, 42.0 and "42" are all equal; other
strings compare byte for byte (< > by byte order); true, false and null only
equal themselves. ~ takes a Go regular expression in a JSON string and also
matches ints and floats as PHP prints them. A condition on a missing path is
false, != included: use 'not PATH exists'.

--set PATH=VALUE sets PATH to VALUE, a value in the JSON form (42, "x",
[1,2], {"id":7}, {"$object":{...}}), creating missing arrays on the way as PHP
does; --unset PATH removes it. Each is applied under the PHP side's lock after
checking the condition again, and the session gets its full lifetime again,
as a PHP request's write gives it.`

func (a *app) findCmd() *cobra.Command {
	var where, output string
	var sets, unsets []string
	var del, quiet bool
	var workers int
	c := &cobra.Command{
		Use:   "find STORE --where COND",
		Short: "List, delete or change the sessions whose data matches a condition",
		Long: `Find reads every session of STORE, decodes it and prints the id of each one
that --where matches (with --output json, its dump line: see phpsess dump).
With --delete it destroys them, as session_destroy() does: that logs a user
out everywhere. With --set or --unset it changes them.

Deleting and changing take the PHP side's lock where the store takes one, and
check the condition again on what they read under it, so a session PHP
changed meanwhile is judged as it is now. Sessions are read by a pool of
workers as the store lists them, with memory flat however big the store is.
` + whereHelp + `
` + storeHelp,
		Example: `  # which sessions belong to user 42
  phpsess find redis://127.0.0.1:6379 --where 'user.id=42'

  # log user 42 out everywhere
  phpsess find 'mysql://app:secret@db/app?layout=ci4' --where 'user.id=42' --delete

  # revoke a role, under the lock, in every session that has it
  phpsess find file:///var/lib/php/sessions --where 'roles[*]="admin"' --set 'must_reauth=true'

  # sessions of a banned address range, or without a login
  phpsess find 'redis://127.0.0.1:6379?layout=ci3' --where 'ip ~ "^10\\.1\\." or not user exists' -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			if where == "" {
				return usageErr("--where is required (use --where 'PATH exists' or see phpsess find --help)")
			}
			w, err := ops.ParseWhere(where)
			if err != nil {
				return usageErr("--where: %v", err)
			}
			opt := ops.FindOptions{Where: w, Delete: del}
			for _, s := range sets {
				as, err := ops.ParseAssignment(s)
				if err != nil {
					return usageErr("--set %s: %v", s, err)
				}
				opt.Set = append(opt.Set, as)
			}
			for _, s := range unsets {
				as, err := ops.ParseUnset(s)
				if err != nil {
					return usageErr("--unset %s: %v", s, err)
				}
				opt.Set = append(opt.Set, as)
			}
			if del && len(opt.Set) > 0 {
				return usageErr("--delete cannot be combined with --set or --unset")
			}
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			h := s.Info().Handler
			out := bufio.NewWriter(a.stdout)
			defer out.Flush()
			opt.OnMatch = func(rec *handlers.Record, sess *phpserialize.Array) error {
				var line []byte
				if output == "json" {
					l, err := ops.LineFromRecord(rec, h, false)
					if err != nil {
						return err
					}
					line = l.AppendJSON(nil)
				} else {
					line = []byte(rec.ID)
				}
				_, err := out.Write(append(line, '\n'))
				return err
			}
			opt.Common = a.opsCommon("find", workers, quiet)
			st, err := ops.Find(ctx, s, opt)
			out.Flush()
			if !quiet {
				verb := "matched"
				switch {
				case del:
					verb = "deleted"
				case len(opt.Set) > 0:
					verb = "changed"
				}
				n := st.Done
				if del || len(opt.Set) > 0 {
					n = st.Changed
				}
				fmt.Fprintf(a.stderr, "phpsess: find: %d of %d sessions %s, %d failed, in %s\n",
					n, st.Seen, verb, st.Failed, st.Elapsed.Round(time.Millisecond))
			}
			return opsErr(err)
		},
	}
	f := c.Flags()
	f.StringVarP(&where, "where", "w", "", "the condition (see above)")
	f.BoolVar(&del, "delete", false, "destroy every matching session (logs its user out)")
	f.StringArrayVar(&sets, "set", nil, "PATH=VALUE to set in every matching session (repeatable)")
	f.StringArrayVar(&unsets, "unset", nil, "PATH to remove from every matching session (repeatable)")
	f.StringVarP(&output, "output", "o", "text", "text (ids, one a line) or json (dump lines)")
	f.IntVar(&workers, "workers", 8, "sessions handled at once")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress or summary on stderr")
	a.completeFlag(c, "output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}
