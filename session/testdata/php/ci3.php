<?php
// CodeIgniter 3's session library, as far as sessions are stored: the files
// driver (Session_files_driver: <save_path>/ci_session<id>, flock held for
// the request, validateId, updateTimestamp), its id rule (php.ini 26 x 5
// bits grown to 32 characters of [0-9a-v]), strict mode, and
// _ci_init_vars's ageing of flashdata and tempdata.
require __DIR__ . '/ops.inc.php';
$cookie = 'ci_session';
$rule = '[0-9a-v]{32}';
ini_set('session.sid_length', '32');
ini_set('session.sid_bits_per_character', '5');
ini_set('session.use_strict_mode', '1');
ini_set('session.use_cookies', '1');
ini_set('session.use_only_cookies', '1');
ini_set('session.use_trans_sid', '0');
ini_set('session.gc_maxlifetime', '7200');
session_name($cookie);
if (isset($_COOKIE[$cookie]) && !preg_match('#\A' . $rule . '\z#', $_COOKIE[$cookie])) {
	unset($_COOKIE[$cookie]);
}

class CI3Files implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface {
	private $fh = null;
	private $prefix;
	private $sum;
	private $isNew;
	function open($path, $name): bool { $this->prefix = $path . '/' . $name; return true; }
	function read($id): string|false {
		$f = $this->prefix . $id;
		$this->isNew = !is_file($f);
		if (($this->fh = fopen($f, 'c+b')) === false || !flock($this->fh, LOCK_EX)) { return false; }
		if ($this->isNew) { chmod($f, 0600); $this->sum = md5(''); return ''; }
		clearstatcache();
		$data = filesize($f) > 0 ? stream_get_contents($this->fh) : '';
		$this->sum = md5($data);
		return $data;
	}
	function write($id, $data): bool {
		if ($this->sum === md5($data)) { return $this->isNew ? true : touch($this->prefix . $id); }
		ftruncate($this->fh, 0);
		rewind($this->fh);
		fwrite($this->fh, $data);
		$this->sum = md5($data);
		return true;
	}
	function close(): bool {
		if (is_resource($this->fh)) { flock($this->fh, LOCK_UN); fclose($this->fh); }
		$this->fh = null;
		return true;
	}
	function destroy($id): bool { $this->close(); return is_file($this->prefix . $id) ? unlink($this->prefix . $id) : true; }
	function gc($max): int|false { return 0; }
	function validateId($id): bool { return is_file($this->prefix . $id); }
	function updateTimestamp($id, $data): bool { return touch($this->prefix . $id); }
}
session_set_save_handler(new CI3Files(), true);
if (!session_start()) {
	http_response_code(500);
	exit('session_start failed');
}
// _ci_init_vars
if (!empty($_SESSION['__ci_vars'])) {
	$now = time();
	foreach ($_SESSION['__ci_vars'] as $key => &$value) {
		if ($value === 'new') {
			$_SESSION['__ci_vars'][$key] = 'old';
		} elseif ($value === 'old' || $value < $now) {
			unset($_SESSION[$key], $_SESSION['__ci_vars'][$key]);
		}
	}
	unset($value);
	if (empty($_SESSION['__ci_vars'])) {
		unset($_SESSION['__ci_vars']);
	}
}
// get_flashdata()
$flash = [];
foreach ($_SESSION['__ci_vars'] ?? [] as $key => $value) {
	is_int($value) or $flash[$key] = $_SESSION[$key];
}
apply_ops($flash);
