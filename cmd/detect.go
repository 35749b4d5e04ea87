package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/phpsess/phpsess/ops"
	"github.com/spf13/cobra"
)

func (a *app) detectCmd() *cobra.Command {
	var phpIni, phpBinary, output string
	var quiet bool
	c := &cobra.Command{
		Use:   "detect [APPDIR]",
		Short: "Print the store URL that the PHP side's own configuration describes",
		Long: `Detect reads the PHP side's configuration and prints the STORE URL of its
sessions, with where each part of it comes from, and what it could not tell.

PHP's settings come from php -i (PHP's full view: php.ini, conf.d, extension
defaults), run with --php-binary (default php, when no --php-ini is given),
and/or from a php.ini or PHP-FPM pool file given with --php-ini (with both,
"php -c FILE -i" is run). They give session.save_handler, session.save_path,
session.serialize_handler, session.gc_maxlifetime, session.name and the
phpredis, php-memcached and pecl memcache session settings. php -i shows the
CLI's configuration: give the web server's php.ini (/etc/php/8.2/fpm/php.ini)
with --php-ini when it differs.

With APPDIR, the root of a CodeIgniter application, the session store is the
framework's: CodeIgniter 3's application/config/config.php (and
config/database.php), or CodeIgniter 4's app/Config/Session.php (or the older
App.php), app/Config/Database.php and .env overrides (session.*, database.*).
These files are read as data; the application's code is never run, and a
setting that is not a literal (a function call, a variable) is reported as
undetermined.

The URL is the first line of the output (alone with --quiet). The exit code is
1 when the configuration does not say enough to build one.`,
		Example: `  phpsess detect                                   # php -i
  phpsess detect --php-ini /etc/php/8.2/fpm/php.ini
  phpsess detect /srv/app                          # a CodeIgniter 3 or 4 app
  phpsess ls "$(phpsess detect -q --php-ini /etc/php/8.2/fpm/php.ini)"
  phpsess detect --output json /srv/app | jq -r .url`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			opt := ops.DetectOptions{PHPIni: phpIni}
			if len(args) == 1 {
				opt.AppDir = args[0]
			}
			switch {
			case c.Flags().Changed("php-binary"):
				opt.PHPBinary = phpBinary
			case phpIni == "":
				if _, err := exec.LookPath(phpBinary); err == nil {
					opt.PHPBinary = phpBinary
				}
			}
			det, err := ops.Detect(c.Context(), opt)
			if err != nil {
				if det != nil && !quiet && output == "text" {
					for _, n := range det.Notes {
						fmt.Fprintf(a.stderr, "phpsess: detect: note: %s\n", n)
					}
				}
				if errors.Is(err, ops.ErrUndetermined) {
					return withCode(ExitFailure, err)
				}
				return err
			}
			if output == "json" {
				b, _ := json.Marshal(det)
				_, err := fmt.Fprintf(a.stdout, "%s\n", b)
				return err
			}
			fmt.Fprintln(a.stdout, det.URL)
			if quiet {
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			for _, p := range det.Parts {
				fmt.Fprintf(tw, "  %s\t%s\n", p.Part, p.From)
			}
			tw.Flush()
			if len(det.Notes) > 0 {
				fmt.Fprintln(a.stdout, "notes:")
				for _, n := range det.Notes {
					fmt.Fprintf(a.stdout, "  - %s\n", n)
				}
			}
			fmt.Fprintf(a.stdout, "read: %s\n", strings.Join(det.Sources, ", "))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&phpIni, "php-ini", "", "a php.ini or PHP-FPM pool file to read")
	f.StringVar(&phpBinary, "php-binary", "php", "the PHP CLI to run as php -i (default: when no --php-ini is given)")
	f.StringVarP(&output, "output", "o", "text", "text, or json: {url, parts: [{part, from}], notes, sources}")
	f.BoolVarP(&quiet, "quiet", "q", false, "print the URL only")
	_ = c.MarkFlagFilename("php-ini", "ini", "conf")
	a.completeFlag(c, "output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}
