<?php
// PHP 8.2's own session decode/encode (the C implementation) on the same
// files as BenchmarkCodec, printed in `go test -bench` format so that
// bench/report can put them side by side:
//   BenchmarkCodec/decode/php/size_64kb  N  ns/op  MB/s
// Usage: php bench/php.php [seconds per case]
$secs = (float)($argv[1] ?? 1.0);
ini_set('session.serialize_handler', 'php');
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('session.save_path', sys_get_temp_dir());
session_start();
foreach (['size_2kb', 'size_64kb', 'size_1mb'] as $size) {
    $data = file_get_contents(__DIR__ . "/../testdata/payloads/$size.php.sess");
    $len = strlen($data);
    foreach (['decode', 'encode'] as $op) {
        session_decode($data);
        $n = 0;
        $t0 = hrtime(true);
        do {
            for ($i = 0; $i < 10; $i++) {
                if ($op === 'decode') {
                    session_decode($data);
                } else {
                    $out = session_encode();
                }
            }
            $n += 10;
            $el = hrtime(true) - $t0;
        } while ($el < $secs * 1e9);
        if ($op === 'encode' && $out !== $data) {
            fwrite(STDERR, "php: encode of $size did not reproduce the input\n");
            exit(1);
        }
        $ns = $el / $n;
        printf("BenchmarkCodec/%s/php/%s\t%d\t%.0f ns/op\t%.2f MB/s\n", $op, $size, $n, $ns, $len / $ns * 1e3);
    }
}
session_abort();
