<?php
// DALMP 3.1.0's session handlers, replayed for phpsess's interop tests
// (handlers/dalmp_test.go). Nothing of DALMP is vendored: each class below
// sends the statements and commands that DALMP\Sessions\<Backend> (and its
// DALMP\Cache\<Backend>) sends, as docs/spec section 6 describes them, with
// the same keys, serialization, expiry and reference index maintenance.
// Deviations, all outside the handlers' storage behaviour:
//   - Files uses the directory it is given (stock 3.1.0 writes below "/").
//   - MySQL talks mysqli directly instead of DALMP\Database (whose
//     bind_result call dies on PHP 8 when reading an existing row).
//   - DalmpPHP8 wraps a handler so that read()'s false/null for a missing
//     session becomes '' (the PHP 8 blocker of section 6.9), so that a
//     request for a new or deleted id starts an empty session.
//
// Usage: php dalmp.php '<json config>'; prints one JSON object.

class CacheMemcache
{
    private $cache;
    private $compress;

    public function __construct($host, $port, $compress)
    {
        $this->cache = new \Memcache();
        $this->cache->connect($host, $port, 1);
        $this->compress = $compress ? MEMCACHE_COMPRESSED : false;
    }

    public function Set($key, $value, $expire = 0)
    {
        ($this->compress === false) && $this->cache->setCompressThreshold(0);
        return $this->cache->set($key, $value, $this->compress, $expire);
    }

    public function Get($key) { return $this->cache->get($key); }
    public function Delete($key) { return $this->cache->delete($key); }
}

class CacheRedis
{
    private $cache;

    public function __construct($host, $port)
    {
        $this->cache = new \Redis();
        $this->cache->connect($host, $port, 1);
    }

    public function set($key, $value, $expire = 0)
    {
        if ($expire == 0 || $expire == -1) {
            return (bool) $this->cache->set($key, serialize($value));
        }
        return (bool) $this->cache->setex($key, $expire, serialize($value));
    }

    public function Get($key) { return unserialize($this->cache->get($key)); }
    public function Delete($key) { return (bool) $this->cache->del($key); }
    public function X() { return $this->cache; }
}

function dalmp_ref($name)
{
    return (isset($GLOBALS[$name]) && !empty($GLOBALS[$name])) ? $GLOBALS[$name] : null;
}

class DalmpFiles
{
    private $dir;
    public function __construct($dir) { $this->dir = $dir; }
    private function path($id)
    {
        return sprintf('%s/%s/%s/%s', $this->dir, substr($id, 0, 2), substr($id, 2, 2), substr($id, 4, 2));
    }
    public function read($id)
    {
        $p = $this->path($id);
        if (!is_dir($p) && !mkdir($p, 0700, true)) {
            throw new \Exception("$p not accessible");
        }
        return (string) @file_get_contents(sprintf('%s/%s', $p, "{$id}.sess"));
    }
    public function write($id, $data)
    {
        $p = $this->path($id);
        if (!is_dir($p) && !mkdir($p, 0700, true)) {
            throw new \Exception("$p not accessible");
        }
        return file_put_contents(sprintf('%s/%s', $p, "{$id}.sess"), $data) === false ? false : true;
    }
    public function destroy($id)
    {
        $f = sprintf('%s/%s', $this->path($id), "{$id}.sess");
        if (file_exists($f)) {
            unlink($f);
        }
        return true;
    }
    public function getSessionsRefs() { return false; }
    public function getSessionRef($ref) { return false; }
    public function delSessionRef($ref) { return false; }
}

class DalmpSQLite
{
    private $sdb;
    private $ref;
    public function __construct($filename, $ref = 'UID')
    {
        $this->sdb = new \SQLite3($filename);
        $this->sdb->busyTimeout(2000);
        $this->sdb->exec('PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY; PRAGMA journal_mode=MEMORY');
        $this->sdb->exec('CREATE TABLE IF NOT EXISTS dalmp_sessions (sid VARCHAR NOT null, expiry INTEGER NOT null, data TEXT, ref TEXT, PRIMARY KEY(sid)); CREATE INDEX IF NOT EXISTS "dalmp_index" ON dalmp_sessions ("sid" DESC, "expiry" DESC, "ref" DESC)');
        $this->ref = $ref;
    }
    public function read($id)
    {
        $stmt = $this->sdb->prepare('SELECT data FROM dalmp_sessions WHERE sid=:sid AND expiry >=:expiry');
        $stmt->bindValue(':sid', $id, SQLITE3_TEXT);
        $stmt->bindValue(':expiry', time(), SQLITE3_INTEGER);
        if ($query = $stmt->execute()) {
            $rs = $query->fetchArray(SQLITE3_ASSOC);
            return $rs['data'] ?? null;
        }
        return false;
    }
    public function write($id, $data)
    {
        $ref = dalmp_ref($this->ref);
        $expiry = time() + ini_get('session.gc_maxlifetime');
        $stmt = $this->sdb->prepare('INSERT OR REPLACE INTO dalmp_sessions (sid, expiry, data, ref) VALUES (:sid, :expiry, :data, :ref)');
        $stmt->bindValue(':sid', $id, SQLITE3_TEXT);
        $stmt->bindValue(':expiry', $expiry, SQLITE3_INTEGER);
        $stmt->bindValue(':data', $data, SQLITE3_TEXT);
        $stmt->bindValue(':ref', $ref, SQLITE3_TEXT);
        return $stmt->execute() ? true : false;
    }
    public function destroy($id)
    {
        $stmt = $this->sdb->prepare('DELETE FROM dalmp_sessions WHERE sid=:sid');
        $stmt->bindValue(':sid', $id, SQLITE3_TEXT);
        return $stmt->execute() ? true : false;
    }
    private function rows($rs)
    {
        $refs = array();
        while ($rs && ($row = $rs->fetchArray(SQLITE3_ASSOC))) {
            $refs[$row['sid']] = array($row['ref'] => $row['expiry']);
        }
        return $refs;
    }
    public function getSessionsRefs()
    {
        return $this->rows($this->sdb->query('SELECT sid, ref, expiry FROM dalmp_sessions WHERE ref NOT null'));
    }
    public function getSessionRef($ref)
    {
        $stmt = $this->sdb->prepare('SELECT sid, ref, expiry FROM dalmp_sessions WHERE ref=:ref');
        $stmt->bindValue(':ref', $ref, SQLITE3_TEXT);
        return $this->rows($stmt->execute());
    }
    public function delSessionRef($ref)
    {
        $stmt = $this->sdb->prepare('DELETE FROM dalmp_sessions WHERE ref=:ref');
        $stmt->bindValue(':ref', $ref, SQLITE3_TEXT);
        return $stmt->execute() ? true : false;
    }
}

class DalmpMySQL
{
    private $db;
    private $ref;
    private $table;
    public function __construct(\mysqli $db, $table = 'dalmp_sessions', $ref = 'UID')
    {
        $this->db = $db;
        $this->table = $table;
        $this->ref = $ref;
    }
    private function exec($sql, $types, ...$args)
    {
        $stmt = $this->db->prepare($sql);
        if ($types !== '') {
            $stmt->bind_param($types, ...$args);
        }
        $stmt->execute();
        return $stmt;
    }
    public function read($id)
    {
        $stmt = $this->exec('SELECT data FROM ' . $this->table . ' WHERE sid=? AND expiry >=?', 'si', $id, time());
        $row = $stmt->get_result()->fetch_row();
        return ($row && $row[0]) ? $row[0] : '';
    }
    public function write($id, $data)
    {
        $ref = dalmp_ref($this->ref);
        $expiry = time() + ini_get('session.gc_maxlifetime');
        $this->exec("REPLACE INTO $this->table (sid, expiry, data, ref) VALUES(?,?,?,?)", 'siss', $id, $expiry, $data, $ref);
        return true;
    }
    public function destroy($id)
    {
        $this->exec('DELETE FROM ' . $this->table . ' WHERE sid=?', 's', $id);
        return true;
    }
    private function rows($res)
    {
        $refs = array();
        while ($row = $res->fetch_assoc()) {
            $refs[$row['sid']] = array($row['ref'] => $row['expiry']);
        }
        return $refs;
    }
    public function getSessionsRefs()
    {
        return $this->rows($this->db->query("SELECT sid, ref, expiry FROM $this->table WHERE ref IS NOT null"));
    }
    public function getSessionRef($ref)
    {
        // DALMP queries the hard-coded table here; the tests use that name
        return $this->rows($this->exec('SELECT sid, ref, expiry FROM dalmp_sessions WHERE ref=?', 's', $ref)->get_result());
    }
    public function delSessionRef($ref)
    {
        $this->exec('DELETE FROM ' . $this->table . ' WHERE ref=?', 's', $ref);
        return true;
    }
}

class DalmpMemcache
{
    private $cache;
    private $ref;
    private $refKey;
    public function __construct(CacheMemcache $cache, $sessionsKey, $ref = 'UID')
    {
        $this->cache = $cache;
        $this->ref = $ref;
        $this->refKey = sprintf('DALMP_REF_%s', sha1($ref . $sessionsKey));
    }
    private function key($id) { return sprintf('DALMP_%s', sha1($this->ref . $id)); }
    public function read($id) { return $this->cache->Get($this->key($id)); }
    public function write($id, $data)
    {
        $ref = dalmp_ref($this->ref);
        $timeout = ini_get('session.gc_maxlifetime');
        $expiry = time() + $timeout;
        $key = $this->key($id);
        $rs = (bool) $this->cache->Set($key, $data, $timeout);
        if ($rs && $ref) {
            $refs = $this->cache->Get($this->refKey);
            if ($refs) {
                foreach ($refs as $rkey => $rexpiry) {
                    if (current($rexpiry) < time()) {
                        unset($refs[$rkey]);
                    }
                }
            } else {
                $refs = array();
            }
            $refs[$key] = array($ref => $expiry);
            return (bool) $this->cache->Set($this->refKey, $refs, 3600);
        }
        return $rs;
    }
    public function destroy($id)
    {
        $key = $this->key($id);
        $this->cache->Delete($key);
        $refs = $this->cache->Get($this->refKey);
        if (is_array($refs)) {
            unset($refs[$key]);
        }
        return (bool) $this->cache->Set($this->refKey, $refs, 3600);
    }
    public function getSessionsRefs() { return $this->cache->Get($this->refKey) ?: array(); }
    public function getSessionRef($ref)
    {
        $rs = array();
        foreach ($this->getSessionsRefs() as $key => $data) {
            if (key($data) == $ref) {
                $rs[$key] = $data;
            }
        }
        return $rs;
    }
    public function delSessionRef($ref)
    {
        $refs = $this->cache->Get($this->refKey);
        if (!is_array($refs)) {
            return false;
        }
        foreach ($refs as $key => $data) {
            if (key($data) == $ref) {
                unset($refs[$key]);
                if (!$this->cache->Delete($key)) {
                    return false;
                }
            }
        }
        return (bool) $this->cache->Set($this->refKey, $refs, 3600);
    }
}

class DalmpRedis
{
    private $cache;
    private $ref;
    private $refKey;
    public function __construct(CacheRedis $cache, $sessionsKey, $ref = 'UID')
    {
        $this->cache = $cache;
        $this->ref = $ref;
        $this->refKey = sprintf('DALMP_REF_%s', sha1($ref . $sessionsKey));
    }
    private function key($id) { return sprintf('DALMP_%s', sha1($this->ref . $id)); }
    public function read($id) { return $this->cache->Get($this->key($id)); }
    public function write($id, $data)
    {
        $ref = dalmp_ref($this->ref);
        $timeout = ini_get('session.gc_maxlifetime');
        $expiry = time() + $timeout;
        $key = $this->key($id);
        $rs = (bool) $this->cache->set($key, $data, $timeout);
        if ($rs && $ref) {
            // as DALMP: HSET answers 0 when the field existed, and then
            // neither EXPIRE runs nor write() reports success
            return (bool) ($this->cache->X()->HSET($this->refKey, $key, sprintf('%s|%s', $ref, $expiry))
                ? $this->cache->X()->EXPIRE($this->refKey, 3600) : false);
        }
        return $rs;
    }
    public function destroy($id)
    {
        $key = $this->key($id);
        if ($this->cache->Delete($key)) {
            if (dalmp_ref($this->ref)) {
                $this->cache->X()->HDEL($this->refKey, $key);
                $this->cache->X()->EXPIRE($this->refKey, 3600);
            }
            return true;
        }
        return false;
    }
    private function parsed($filter)
    {
        $rs = array();
        foreach ($this->cache->X()->HGETALL($this->refKey) as $key => $data) {
            list($reference, $expiry) = explode('|', $data);
            if ($filter === null || $reference == $filter) {
                $rs[$key] = array($reference => $expiry);
            }
        }
        return $rs;
    }
    public function getSessionsRefs() { return $this->parsed(null); }
    public function getSessionRef($ref) { return $this->parsed($ref); }
    public function delSessionRef($ref)
    {
        $keys = array($this->refKey);
        foreach ($this->cache->X()->HGETALL($this->refKey) as $key => $data) {
            list($reference, $expiry) = explode('|', $data);
            if ($reference == $ref) {
                $keys[] = $key;
            }
        }
        if (count($keys) > 1) {
            call_user_func_array(array($this->cache->X(), 'HDEL'), $keys);
            array_shift($keys);
            return (bool) $this->cache->Delete($keys);
        }
        return false;
    }
}

class DalmpPHP8 implements \SessionHandlerInterface
{
    public $h;
    public function __construct($h) { $this->h = $h; }
    public function open($path, $name): bool { return true; }
    public function close(): bool { return true; }
    public function read($id): string|false
    {
        $data = $this->h->read($id);
        return ($data === false || $data === null) ? '' : $data;
    }
    public function write($id, $data): bool { return $this->h->write($id, $data); }
    public function destroy($id): bool { return $this->h->destroy($id); }
    public function gc($max): int|false { return 0; }
}

$c = json_decode($argv[1], true);
switch ($c['backend']) {
case 'file':
    $h = new DalmpFiles($c['dir']);
    break;
case 'sqlite':
    $h = new DalmpSQLite($c['db']);
    break;
case 'mysql':
    $db = new \mysqli($c['host'], $c['user'], $c['pass'], $c['name'], (int) $c['port']);
    $db->set_charset('utf8'); // DALMP's utf8:// DSN
    $h = new DalmpMySQL($db, $c['table'] ?? 'dalmp_sessions');
    break;
case 'memcache':
    $h = new DalmpMemcache(new CacheMemcache($c['host'], (int) $c['port'], !empty($c['compress'])), $c['sessions_key']);
    break;
case 'redis':
    $h = new DalmpRedis(new CacheRedis($c['host'], (int) $c['port']), $c['sessions_key']);
    break;
}
if (isset($c['ref'])) {
    $GLOBALS['UID'] = $c['ref'];
}
$out = array();
switch ($c['op']) {
case 'request':
    // one request: start the session, report it, set variables, write
    session_set_save_handler(new DalmpPHP8($h), true);
    session_id($c['id']);
    session_start();
    $out['before'] = base64_encode(session_encode());
    foreach ($c['set'] ?? array() as $k => $v) {
        $_SESSION[$k] = $v;
    }
    $out['after'] = base64_encode(session_encode());
    session_write_close();
    break;
case 'write':
    // the handler's write() with exact bytes
    $out['ok'] = $h->write($c['id'], base64_decode($c['data']));
    break;
case 'read':
    $r = $h->read($c['id']);
    $out['found'] = is_string($r) && $r !== '';
    $out['data'] = is_string($r) ? base64_encode($r) : null;
    break;
case 'destroy':
    $out['ok'] = $h->destroy($c['id']);
    break;
case 'refs':
    $out['refs'] = $h->getSessionsRefs();
    break;
case 'ref':
    $out['refs'] = $h->getSessionRef($c['find']);
    break;
case 'delref':
    $out['ok'] = $h->delSessionRef($c['find']);
    break;
}
echo json_encode($out), "\n";
