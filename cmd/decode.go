package cmd

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

// handlerFlag is the --handler choice: a session handler, "serialize" for
// one plain serialized value, or "auto".
type handlerFlag string

const (
	handlerSerialize handlerFlag = "serialize"
	handlerAuto      handlerFlag = "auto"
)

var handlerNames = []string{"php", "php_binary", "php_serialize", "serialize", "auto"}

func parseHandlerFlag(s string, allowAuto bool) (handlerFlag, error) {
	switch s {
	case "php", "php_binary", "php_serialize", "serialize":
		return handlerFlag(s), nil
	case "auto":
		if allowAuto {
			return handlerAuto, nil
		}
	}
	want := "php, php_binary, php_serialize or serialize"
	if allowAuto {
		want += ", or auto"
	}
	return "", usageErr("--handler %q: want %s", s, want)
}

func completeHandlers(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return handlerNames, cobra.ShellCompDirectiveNoFileComp
}

// decodePayload turns one payload into its JSON form.
func decodePayload(h handlerFlag, data []byte, maxDepth int) ([]byte, handlerFlag, error) {
	if h == handlerAuto {
		d, err := phpserialize.DetectHandler(data)
		if err != nil {
			return nil, h, err
		}
		h = handlerFlag(d)
	}
	dec := phpserialize.Decoder{MaxDepth: maxDepth}
	if h == handlerSerialize {
		v, err := dec.Decode(data)
		if err != nil {
			return nil, h, err
		}
		return phpserialize.AppendJSON(nil, v), h, nil
	}
	sess, err := dec.DecodeSession(phpserialize.Handler(h), data)
	if err != nil {
		return nil, h, err
	}
	return phpserialize.AppendSessionJSON(nil, sess), h, nil
}

func (a *app) decodeCmd() *cobra.Command {
	var handler, prefix string
	var pretty bool
	var maxDepth int
	c := &cobra.Command{
		Use:   "decode [FILE|DIR|-]...",
		Short: "Print PHP session payloads as JSON",
		Long: `Decode prints a PHP session payload (or, with --handler serialize, one value
written by serialize()) as JSON. Data JSON can hold prints as PHP's json_encode
prints it; objects, references, binary strings, INF/NAN and enums use tagged
values such as {"$object": {...}} (see README.md, "The JSON form").

With one input (a file, or standard input when none is given or "-"), decode
prints the data. With several files or a directory, it prints one JSON line per
session: {"id": ..., "file": ..., "handler": ..., "data": ...}, where id is the
file name without --prefix (PHP's sess_ and CodeIgniter's ci_session by
default). A payload that cannot be decoded is reported on stderr with its file
and byte offset, and the exit code is non-zero.`,
		Example: `  # a session file written by PHP's files handler
  phpsess decode /var/lib/php/sessions/sess_k3j5...

  # straight from a store (see phpsess get --help for store URLs)
  phpsess get --raw redis://127.0.0.1:6379/0 k3j5... | phpsess decode

  # every session in a directory, one JSON line each, detecting the encoding
  phpsess decode --handler auto /var/lib/php/sessions | jq -c 'select(.data.user_id == 42) | .id'

  # round trip: PHP's own bytes come back
  phpsess decode sess_abc | phpsess encode | cmp - sess_abc`,
		RunE: func(c *cobra.Command, args []string) error {
			h, err := parseHandlerFlag(handler, true)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{"-"}
			}
			if len(args) == 1 {
				if st, err := os.Stat(args[0]); args[0] == "-" || (err == nil && !st.IsDir()) {
					data, err := readInput(a.stdin, args[0])
					if err != nil {
						return err
					}
					out, used, err := decodePayload(h, data, maxDepth)
					if err != nil {
						return fmt.Errorf("decode %s: %w", inputName(args[0]), err)
					}
					if h == handlerAuto {
						fmt.Fprintf(a.stderr, "phpsess: %s: detected handler %s\n", inputName(args[0]), used)
					}
					return writeJSON(a.stdout, out, pretty)
				}
			}
			return a.decodeMany(args, h, prefix, pretty, maxDepth)
		},
	}
	f := c.Flags()
	f.StringVar(&handler, "handler", "php", "session.serialize_handler that wrote the data: php, php_binary, php_serialize, serialize (one value) or auto")
	f.StringVar(&prefix, "prefix", "sess_,ci_session", "file name prefixes to strip to get the session id, with several files (comma-separated: PHP's sess_, CodeIgniter's cookie name)")
	f.BoolVar(&pretty, "pretty", false, "indent the JSON")
	f.IntVar(&maxDepth, "max-depth", phpserialize.DefaultMaxDepth, "refuse arrays and objects nested deeper than this (PHP's unserialize_max_depth)")
	a.completeFlag(c, "handler", completeHandlers)
	return c
}

func (a *app) decodeMany(args []string, h handlerFlag, prefix string, pretty bool, maxDepth int) error {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	w := bufio.NewWriter(a.stdout)
	defer w.Flush()
	failed := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			var out []byte
			var used handlerFlag
			out, used, err = decodePayload(h, data, maxDepth)
			if err == nil {
				line := []byte(`{"id":`)
				line = appendJSONString(line, trimAnyPrefix(filepath.Base(file), prefix))
				line = append(line, `,"file":`...)
				line = appendJSONString(line, file)
				line = append(line, `,"handler":"`...)
				line = append(line, used...)
				line = append(line, `","data":`...)
				line = append(line, out...)
				line = append(line, '}')
				if err := writeJSON(w, line, pretty); err != nil {
					return err
				}
				continue
			}
		}
		failed++
		w.Flush()
		fmt.Fprintf(a.stderr, "phpsess: decode %s: %v\n", file, err)
	}
	if failed > 0 {
		return withCode(ExitPartial, fmt.Errorf("%d of %d files could not be decoded", failed, len(files)))
	}
	return nil
}

// trimAnyPrefix removes the first of the comma-separated prefixes that name
// starts with.
func trimAnyPrefix(name, prefixes string) string {
	for _, p := range strings.Split(prefixes, ",") {
		if p != "" && strings.HasPrefix(name, p) {
			return name[len(p):]
		}
	}
	return name
}

func appendJSONString(dst []byte, s string) []byte {
	return phpserialize.AppendJSON(dst, phpserialize.String(s))
}

func inputName(arg string) string {
	if arg == "-" {
		return "standard input"
	}
	return arg
}

func readInput(stdin io.Reader, arg string) ([]byte, error) {
	if arg == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(arg)
}

func writeJSON(w io.Writer, data []byte, pretty bool) error {
	if pretty {
		data = indentJSON(data)
	}
	data = append(data, '\n')
	_, err := w.Write(data)
	return err
}
