<?php
// A plain PHP page: the save handler (files, redis) is set by the ini of
// php -S.
require __DIR__ . '/ops.inc.php';
if (!session_start()) {
	http_response_code(500);
	exit('session_start failed');
}
apply_ops([]);
