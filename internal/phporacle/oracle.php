<?php
// phporacle batch runner: embedded in the Go package internal/phporacle.
//
// Request on stdin (all lengths are 4-byte big-endian unsigned):
//   len mode      "unserialize" | "session:php" | "session:php_binary" | "session:php_serialize"
//   len prelude   PHP code (no open tag) evaluated once before decoding
//   count
//   count x (len input)
// Response on stdout:
//   "PHPORACLE1\n"
//   count x (flags byte: 1=OK 2=encode produced a string 4=json_encode produced a string,
//            len output, len json, len json_error, len errors)
//   "END\n"
// Anything the prelude or decoded objects print is captured and discarded, and
// warnings are collected by an error handler, so neither can corrupt the stream.

declare(strict_types=1);

ini_set('display_errors', '0');
ini_set('html_errors', '0');
error_reporting(E_ALL);

$GLOBALS['__oracle_errs'] = [];
set_error_handler(static function (int $no, string $str): bool {
    $GLOBALS['__oracle_errs'][] = $str;
    return true;
});

function oracle_fail(string $msg): never
{
    fwrite(STDERR, "phporacle: $msg\n");
    exit(2);
}

$in = stream_get_contents(STDIN);
if ($in === false) {
    oracle_fail('cannot read stdin');
}
$pos = 0;
$len = strlen($in);
$read = static function () use ($in, &$pos, $len): string {
    if ($pos + 4 > $len) {
        oracle_fail('truncated request');
    }
    $n = unpack('N', $in, $pos)[1];
    $pos += 4;
    if ($pos + $n > $len) {
        oracle_fail('truncated request');
    }
    $s = substr($in, $pos, $n);
    $pos += $n;
    return $s;
};
$mode = $read();
$prelude = $read();
if ($pos + 4 > $len) {
    oracle_fail('truncated request');
}
$count = unpack('N', $in, $pos)[1];
$pos += 4;
$inputs = [];
for ($i = 0; $i < $count; $i++) {
    $inputs[] = $read();
}
unset($in);

// Everything printed from here on (prelude, __wakeup, __destruct...) is discarded.
ob_start(static fn (string $buf): string => '', 4096);

if ($prelude !== '') {
    try {
        eval($prelude);
    } catch (Throwable $e) {
        oracle_fail('prelude: ' . get_class($e) . ': ' . $e->getMessage());
    }
}

const ORACLE_JSON_FLAGS = JSON_PRESERVE_ZERO_FRACTION | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR;

$handler = null;
if (str_starts_with($mode, 'session:')) {
    $handler = substr($mode, 8);
    if (!in_array($handler, ['php', 'php_binary', 'php_serialize'], true)) {
        oracle_fail("unknown session handler $handler");
    }
    // A save handler that stores nothing: session_decode() needs an active
    // session, and we never want PHP to touch the file system.
    session_set_save_handler(new class implements SessionHandlerInterface {
        public function open(string $path, string $name): bool { return true; }
        public function close(): bool { return true; }
        public function read(string $id): string|false { return ''; }
        public function write(string $id, string $data): bool { return true; }
        public function destroy(string $id): bool { return true; }
        public function gc(int $max): int|false { return 0; }
    }, false);
    ini_set('session.use_cookies', '0');
    ini_set('session.use_only_cookies', '0');
    ini_set('session.use_trans_sid', '0');
    ini_set('session.cache_limiter', '');
    ini_set('session.gc_probability', '0');
    if (ini_set('session.serialize_handler', $handler) === false) {
        oracle_fail("cannot select session.serialize_handler=$handler");
    }
} elseif ($mode !== 'unserialize') {
    oracle_fail("unknown mode $mode");
}

$out = "PHPORACLE1\n";
foreach ($inputs as $input) {
    $GLOBALS['__oracle_errs'] = [];
    $ok = false;
    $output = null;
    $json = null;
    $jsonErr = '';
    try {
        if ($handler === null) {
            $value = unserialize($input);
            // Only "b:0;" legitimately decodes to false; every other false is a failure
            // (unserialize('') returns false without any notice).
            $ok = $value !== false || str_starts_with($input, 'b:0;');
            if ($ok) {
                $output = serialize($value);
            }
        } else {
            if (session_status() !== PHP_SESSION_ACTIVE && !session_start()) {
                oracle_fail('session_start failed: ' . implode("\n", $GLOBALS['__oracle_errs']));
            }
            $_SESSION = [];
            $ok = session_decode($input);
            if ($ok) {
                $value = $_SESSION;
                $enc = session_encode();
                $output = $enc === false ? null : $enc;
            }
        }
        if ($ok) {
            $j = json_encode($value, ORACLE_JSON_FLAGS);
            if (json_last_error() !== JSON_ERROR_NONE) {
                $jsonErr = json_last_error_msg();
            }
            $json = $j === false ? null : $j;
        }
    } catch (Throwable $e) {
        $ok = false;
        $output = null;
        $json = null;
        $GLOBALS['__oracle_errs'][] = get_class($e) . ': ' . $e->getMessage();
    }
    unset($value);
    if ($handler !== null && session_status() === PHP_SESSION_ACTIVE) {
        $_SESSION = [];
    }
    $errs = implode("\n", $GLOBALS['__oracle_errs']);
    $flags = ($ok ? 1 : 0) | ($output !== null ? 2 : 0) | ($json !== null ? 4 : 0);
    $out .= chr($flags)
        . pack('N', strlen($output ?? '')) . ($output ?? '')
        . pack('N', strlen($json ?? '')) . ($json ?? '')
        . pack('N', strlen($jsonErr)) . $jsonErr
        . pack('N', strlen($errs)) . $errs;
}
$out .= "END\n";
if (session_status() === PHP_SESSION_ACTIVE) {
    session_abort();
}
fwrite(STDOUT, $out);
fflush(STDOUT);
// The discarding output buffer stays active: destructors that run at shutdown
// print into it, and PHP flushes it (to nothing) after they ran.
exit(0);
