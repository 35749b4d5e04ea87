// Package phporacle asks a real php-cli what PHP does with serialized values
// and session payloads, so that tests of the Go decoder and encoder can be
// checked against the reference implementation (differential testing).
//
// Inputs are sent in batches: one php process decodes many inputs, which
// matters because starting php costs about 20 ms. The PHP side (oracle.php,
// embedded in this package) reads a length-prefixed request from stdin and
// writes length-prefixed results to stdout; warnings are captured by an error
// handler and anything PHP code prints is discarded, so neither can corrupt
// the stream.
//
// Nothing is written to disk: session decoding runs inside a session whose
// save handler stores nothing.
package phporacle

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

//go:embed oracle.php
var script string

// Handlers lists the session serialize handlers SessionDecode accepts.
var Handlers = []string{"php", "php_binary", "php_serialize"}

// Result is what PHP did with one input.
type Result struct {
	// OK reports that PHP accepted the input: unserialize() did not fail
	// (an input starting with "b:0;" legitimately decodes to false), or
	// session_decode() returned true.
	OK bool
	// Encoded reports that re-encoding produced a string. It is false when
	// OK is false, and also when session_encode() returned false, which PHP
	// does for an empty session under the php and php_binary handlers and
	// when a key contains '|' under the php handler.
	Encoded bool
	// Output is PHP's re-encoding of what it decoded: serialize() of the
	// value, or session_encode() with the same handler. Nil unless Encoded.
	Output []byte
	// JSON is json_encode(value, JSON_PRESERVE_ZERO_FRACTION |
	// JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE |
	// JSON_PARTIAL_OUTPUT_ON_ERROR) of the decoded value ($_SESSION for
	// sessions); nil if the input was rejected or json_encode returned false.
	JSON []byte
	// JSONError is json_last_error_msg() when json_encode reported an error.
	// With partial output (e.g. invalid UTF-8 replaced by null) JSON is still
	// set.
	JSONError string
	// Error holds PHP's warnings, notices and deprecations raised while
	// decoding and re-encoding, one per line, or the class and message of an
	// exception that PHP threw.
	Error string
}

// Oracle runs php-cli. The zero value is not usable; create one with New.
// An Oracle has no mutable state, so its methods may be called concurrently.
type Oracle struct {
	// PHP is the path of the php-cli binary.
	PHP string
	// Prelude is PHP code evaluated before the inputs are decoded (and
	// before the code given to Eval), e.g. class and enum definitions:
	// without them PHP turns unknown classes into __PHP_Incomplete_Class,
	// loses C: payloads of unknown classes and rejects E: values of unknown
	// enums. A leading "<?php" is stripped.
	Prelude string
	// INI holds extra "name=value" settings passed to php with -d after the
	// oracle's own defaults, e.g. "serialize_precision=17".
	INI []string
}

// defaultINI pins the settings that change what PHP emits or accepts, so that
// a php.ini on the machine cannot change the oracle's answers.
var defaultINI = []string{
	"display_errors=stderr",
	"log_errors=0",
	"html_errors=0",
	"error_reporting=-1",
	"memory_limit=2G",
	"serialize_precision=-1",
	"precision=14",
	"unserialize_max_depth=4096",
	"session.serialize_handler=php",
	"session.auto_start=0",
	"session.gc_probability=0",
	"session.use_strict_mode=0",
	"session.lazy_write=1",
}

// New returns an Oracle that runs the php binary at path php. An empty path
// means "php" looked up in $PATH.
func New(php string) *Oracle {
	if php == "" {
		php = "php"
	}
	return &Oracle{PHP: php}
}

// NotFoundMessage is the message tests fail with when no usable php-cli 8.2
// is installed.
const NotFoundMessage = "php-cli 8.2 not found: run scripts/install-deps.sh (or apt-get install php8.2-cli)"

// Find locates a php-cli 8.2 binary: $PHPSESS_PHP if set, else php8.2 or php
// in $PATH, else /usr/bin/php8.2. It returns an error if none is found or
// the binary found is not PHP 8.2.
func Find(ctx context.Context) (string, error) {
	var candidates []string
	if p := os.Getenv("PHPSESS_PHP"); p != "" {
		candidates = append(candidates, p)
	}
	for _, name := range []string{"php8.2", "php"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	candidates = append(candidates, "/usr/bin/php8.2")
	var errs []error
	for _, p := range candidates {
		v, err := New(p).Version(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.HasPrefix(v, "8.2.") {
			return p, nil
		}
		errs = append(errs, fmt.Errorf("%s is PHP %s, not 8.2", p, v))
	}
	return "", fmt.Errorf("phporacle: no php-cli 8.2 found: %w", errors.Join(errs...))
}

// Require returns an Oracle for php-cli 8.2 or fails the test with
// NotFoundMessage. It skips the test when testing.Short() is set, since
// every call starts a php process.
func Require(t testing.TB) *Oracle {
	t.Helper()
	if testing.Short() {
		t.Skip("phporacle: runs php-cli; skipped in -short mode")
	}
	p, err := Find(context.Background())
	if err != nil {
		t.Fatalf("%s (%v)", NotFoundMessage, err)
	}
	return New(p)
}

// Version returns PHP_VERSION of the configured binary, e.g. "8.2.36".
func (o *Oracle) Version(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, o.PHP, "-d", "display_errors=stderr", "-r", "echo PHP_VERSION;")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("phporacle: %s: %w: %s", o.PHP, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Unserialize decodes each input with unserialize() and re-serializes it
// with serialize(). Results are in input order. The error is non-nil only
// if php could not be run or broke the protocol (e.g. a fatal error in the
// prelude); PHP rejecting an input is reported in its Result.
func (o *Oracle) Unserialize(ctx context.Context, inputs [][]byte) ([]Result, error) {
	return o.batch(ctx, "unserialize", inputs)
}

// SessionDecode decodes each input with session_decode() under handler
// ("php", "php_binary" or "php_serialize", see Handlers) into an empty
// $_SESSION and re-encodes it with session_encode() under the same handler.
// Each input is decoded on its own; a failed decode (which makes PHP destroy
// the session) does not affect the next one.
func (o *Oracle) SessionDecode(ctx context.Context, handler string, inputs [][]byte) ([]Result, error) {
	ok := false
	for _, h := range Handlers {
		ok = ok || h == handler
	}
	if !ok {
		return nil, fmt.Errorf("phporacle: unknown session handler %q", handler)
	}
	return o.batch(ctx, "session:"+handler, inputs)
}

// Eval runs code (PHP statements; a leading "<?php" is stripped) after the
// Prelude, with stdin as its standard input, and returns what it printed to
// standard output. Warnings and errors go to standard error; a non-zero exit
// status is returned as an error that includes standard error.
func (o *Oracle) Eval(ctx context.Context, code string, stdin []byte) ([]byte, error) {
	src := stripOpenTag(o.Prelude) + "\n" + stripOpenTag(code)
	cmd := exec.CommandContext(ctx, o.PHP, append(o.args(), "-r", src)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("phporacle: eval: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func (o *Oracle) args() []string {
	var args []string
	for _, kv := range defaultINI {
		args = append(args, "-d", kv)
	}
	for _, kv := range o.INI {
		args = append(args, "-d", kv)
	}
	return args
}

func stripOpenTag(code string) string {
	c := strings.TrimLeft(code, " \t\r\n")
	if strings.HasPrefix(c, "<?php") {
		return c[len("<?php"):]
	}
	return code
}

const magic = "PHPORACLE1\n"

func (o *Oracle) batch(ctx context.Context, mode string, inputs [][]byte) ([]Result, error) {
	var req bytes.Buffer
	putBytes := func(b []byte) {
		req.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		req.Write(b)
	}
	size := 0
	for _, in := range inputs {
		if uint64(len(in)) > 1<<32-1 {
			return nil, fmt.Errorf("phporacle: input of %d bytes is too large", len(in))
		}
		size += 4 + len(in)
	}
	req.Grow(size + 64 + len(mode) + len(o.Prelude))
	putBytes([]byte(mode))
	putBytes([]byte(stripOpenTag(o.Prelude)))
	req.Write(binary.BigEndian.AppendUint32(nil, uint32(len(inputs))))
	for _, in := range inputs {
		putBytes(in)
	}

	src := stripOpenTag(script)
	cmd := exec.CommandContext(ctx, o.PHP, append(o.args(), "-r", src)...)
	cmd.Stdin = &req
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("phporacle: %s %s: %w: %s", o.PHP, mode, err, strings.TrimSpace(stderr.String()))
	}
	res, err := parseResponse(stdout.Bytes(), len(inputs))
	if err != nil {
		return nil, fmt.Errorf("phporacle: %s: %w (stderr: %s)", mode, err, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

func parseResponse(b []byte, n int) ([]Result, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, fmt.Errorf("response does not start with %q: %q", magic, truncate(b))
	}
	b = b[len(magic):]
	field := func() ([]byte, error) {
		if len(b) < 4 {
			return nil, errors.New("truncated response")
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(l) {
			return nil, errors.New("truncated response")
		}
		f := b[:l:l]
		b = b[l:]
		return f, nil
	}
	out := make([]Result, 0, n)
	for i := 0; i < n; i++ {
		if len(b) < 1 {
			return nil, fmt.Errorf("truncated response at result %d", i)
		}
		flags := b[0]
		b = b[1:]
		var fs [4][]byte
		for j := range fs {
			f, err := field()
			if err != nil {
				return nil, fmt.Errorf("result %d: %w", i, err)
			}
			fs[j] = f
		}
		r := Result{
			OK:        flags&1 != 0,
			Encoded:   flags&2 != 0,
			JSONError: string(fs[2]),
			Error:     string(fs[3]),
		}
		if r.Encoded {
			r.Output = bytes.Clone(fs[0])
		}
		if flags&4 != 0 {
			r.JSON = bytes.Clone(fs[1])
		}
		out = append(out, r)
	}
	if string(b) != "END\n" {
		return nil, fmt.Errorf("unexpected bytes after %d results: %q", n, truncate(b))
	}
	return out, nil
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
