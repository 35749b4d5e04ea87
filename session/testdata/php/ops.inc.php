<?php
// The changes a test asks for, applied to $_SESSION after session_start():
//   ?set={"k":v,...}  ?unset=a,b  ?inc=k  ?flash={"k":v} (CodeIgniter's
//   set_flashdata)  ?sleep=MS (with the session, and its lock, held)
// then the answer: {"id": ..., "data": $_SESSION, "flash": flashdata seen}.
function apply_ops(array $flashSeen): void {
	foreach (json_decode($_GET['set'] ?? '{}', true) as $k => $v) {
		$_SESSION[$k] = $v;
	}
	foreach (array_filter(explode(',', $_GET['unset'] ?? '')) as $k) {
		unset($_SESSION[$k]);
	}
	if (isset($_GET['inc'])) {
		$_SESSION[$_GET['inc']] = ($_SESSION[$_GET['inc']] ?? 0) + 1;
	}
	foreach (json_decode($_GET['flash'] ?? '{}', true) as $k => $v) {
		$_SESSION[$k] = $v;                 // set_userdata
		if (isset($_SESSION[$k])) {         // mark_as_flash
			$_SESSION['__ci_vars'][$k] = 'new';
		}
	}
	if (isset($_GET['sleep'])) {
		usleep((int) $_GET['sleep'] * 1000);
	}
	header('Content-Type: application/json');
	echo json_encode(['id' => session_id(), 'data' => (object) $_SESSION, 'flash' => (object) $flashSeen]);
}
