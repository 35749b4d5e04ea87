package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/phpsess/phpsess/phpserialize"
	"github.com/spf13/cobra"
)

func (a *app) encodeCmd() *cobra.Command {
	var handler, output string
	c := &cobra.Command{
		Use:   "encode [FILE|-]",
		Short: "Turn JSON back into a PHP session payload",
		Long: `Encode reads the JSON form that decode prints and writes the PHP session
payload (or, with --handler serialize, the serialize() form of one value).

Nothing is written when the data cannot be stored so that PHP reads it back:
a key containing '|' for the php handler, an int key for php and php_binary, a
key over 127 bytes for php_binary, a reference to a value that does not exist.
PHP deletes a session it cannot decode, so encode refuses instead.`,
		Example: `  echo '{"user_id":42,"roles":["admin"],"ratio":1.0}' | phpsess encode
  # user_id|i:42;roles|a:1:{i:0;s:5:"admin";}ratio|d:1;

  phpsess encode --handler php_serialize -o sess_abc session.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			h, err := parseHandlerFlag(handler, false)
			if err != nil {
				return err
			}
			arg := "-"
			if len(args) == 1 {
				arg = args[0]
			}
			data, err := readInput(a.stdin, arg)
			if err != nil {
				return err
			}
			out, err := encodePayload(h, data)
			if err != nil {
				return fmt.Errorf("encode %s: %w", inputName(arg), err)
			}
			if output != "" && output != "-" {
				return os.WriteFile(output, out, 0o600)
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&handler, "handler", "php", "session.serialize_handler to write: php, php_binary, php_serialize, or serialize (one value)")
	f.StringVarP(&output, "output", "o", "", "write to this file (mode 0600) instead of standard output")
	a.completeFlag(c, "handler", completeHandlers)
	return c
}

// encodePayload turns the JSON form into payload bytes.
func encodePayload(h handlerFlag, data []byte) ([]byte, error) {
	if h == handlerSerialize {
		v, err := phpserialize.ParseJSON(data)
		if err != nil {
			return nil, err
		}
		return phpserialize.Encode(v)
	}
	sess, err := phpserialize.ParseSessionJSON(phpserialize.Handler(h), data)
	if err != nil {
		return nil, err
	}
	return phpserialize.EncodeSession(phpserialize.Handler(h), sess)
}

func indentJSON(data []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return data
	}
	return buf.Bytes()
}
