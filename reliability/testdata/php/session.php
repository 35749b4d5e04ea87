<?php
// One PHP request on the command line, for the reliability tests:
//
//   php -d session.save_handler=... -d session.save_path=... session.php '{"op":...}'
//
// The argument is a JSON object: op (read, inc, hold), id, key (for inc),
// and for the save handlers PHP does not have itself, handler: "ci4" (the
// CodeIgniter 4.7 database handler's statements and locks: db mysql or
// postgres, host, port, user, pass, name), "dalmp-sqlite" (DALMP's
// SQLite handler: path) or "incubator-mongo" (the Phalcon incubator's
// Mongo adapter: uri, db, collection). The built-in handlers (files,
// redis, rediscluster, memcached, memcache) come from the -d settings.
//
//   read  prints {"id", "data": base64(session_encode()), "ok"}
//   inc   $_SESSION[key]++, then as read
//   hold  session_start(), prints "locked", then sleeps with the session
//         (and its lock) held until it is killed
$c = json_decode($argv[1], true);
ini_set('session.use_strict_mode', '0');
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');

// CodeIgniter 4.7's DatabaseHandler (MySQLiHandler, PostgreHandler) with the
// cookie-name id prefix: GET_LOCK(md5(id), 300) / pg_advisory_lock(hashtext(id)).
class CI4Session implements SessionHandlerInterface
{
    private $pdo;
    private $pg;
    private $lock = false;
    private $exists = false;
    private $fingerprint;

    public function __construct(array $c)
    {
        $this->pg = $c['db'] === 'postgres';
        $dsn = sprintf('%s:host=%s;port=%d;dbname=%s', $this->pg ? 'pgsql' : 'mysql', $c['host'], $c['port'], $c['name']);
        $this->pdo = new PDO($dsn, $c['user'], $c['pass'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    }

    private function one($sql, $args = [])
    {
        $st = $this->pdo->prepare($sql);
        $st->execute($args);
        $row = $st->fetch(PDO::FETCH_NUM);
        return $row === false ? null : $row[0];
    }

    public function open($path, $name): bool { return true; }

    public function close(): bool
    {
        if ($this->lock !== false) {
            $this->pg ? $this->one('SELECT pg_advisory_unlock(hashtext(?))', [$this->lock])
                      : $this->one('SELECT RELEASE_LOCK(?)', [md5($this->lock)]);
            $this->lock = false;
        }
        return true;
    }

    public function read($id): string|false
    {
        $this->pg ? $this->one('SELECT pg_advisory_lock(hashtext(?))', [$id])
                  : $this->one('SELECT GET_LOCK(?, 300)', [md5($id)]);
        $this->lock = $id;
        $sel = $this->pg ? "encode(data, 'base64')" : 'data';
        $data = $this->one("SELECT $sel FROM ci_sessions WHERE id = ?", ['ci_session:' . $id]);
        $this->exists = $data !== null;
        if ($data === null) $data = '';
        if ($this->pg) $data = base64_decode(str_replace("\n", '', $data), true);
        $this->fingerprint = md5($data);
        return $data;
    }

    public function write($id, $data): bool
    {
        // PostgreHandler sends '\x<hex>' as text, which bytea's input reads
        $hex = $this->pg ? '\x' . bin2hex($data) : $data;
        $type = $this->pg ? PDO::PARAM_STR : PDO::PARAM_LOB;
        if (!$this->exists) {
            $st = $this->pdo->prepare('INSERT INTO ci_sessions (id, ip_address, timestamp, data) VALUES (?, ?, now(), ?)');
            $st->bindValue(1, 'ci_session:' . $id);
            $st->bindValue(2, '0.0.0.0');
            $st->bindValue(3, $hex, $type);
            $st->execute();
            $this->exists = true;
        } elseif ($this->fingerprint !== md5($data)) {
            $st = $this->pdo->prepare('UPDATE ci_sessions SET timestamp = now(), data = ? WHERE id = ?');
            $st->bindValue(1, $hex, $type);
            $st->bindValue(2, 'ci_session:' . $id);
            $st->execute();
        } else {
            $this->pdo->prepare('UPDATE ci_sessions SET timestamp = now() WHERE id = ?')->execute(['ci_session:' . $id]);
        }
        $this->fingerprint = md5($data);
        return true;
    }

    public function destroy($id): bool
    {
        $this->pdo->prepare('DELETE FROM ci_sessions WHERE id = ?')->execute(['ci_session:' . $id]);
        return $this->close();
    }

    public function gc($max): int|false { return 0; }
}

// DALMP\Sessions\SQLite: read WHERE expiry >= time(), write INSERT OR
// REPLACE with expiry time() + gc_maxlifetime, both by PHP's clock.
class DALMPSQLite implements SessionHandlerInterface
{
    private $db;

    public function __construct(array $c)
    {
        $this->db = new SQLite3($c['path']);
        $this->db->busyTimeout(5000);
    }

    public function open($path, $name): bool { return true; }
    public function close(): bool { return true; }

    public function read($id): string|false
    {
        $st = $this->db->prepare('SELECT data FROM dalmp_sessions WHERE sid = :sid AND expiry >= :now');
        $st->bindValue(':sid', $id);
        $st->bindValue(':now', time());
        $row = $st->execute()->fetchArray(SQLITE3_NUM);
        return $row ? $row[0] : '';
    }

    public function write($id, $data): bool
    {
        $st = $this->db->prepare('INSERT OR REPLACE INTO dalmp_sessions (sid, expiry, data, ref) VALUES (:sid, :expiry, :data, NULL)');
        $st->bindValue(':sid', $id);
        $st->bindValue(':expiry', time() + (int) ini_get('session.gc_maxlifetime'));
        $st->bindValue(':data', $data);
        return $st->execute() !== false;
    }

    public function destroy($id): bool
    {
        $st = $this->db->prepare('DELETE FROM dalmp_sessions WHERE sid = :sid');
        $st->bindValue(':sid', $id);
        return $st->execute() !== false;
    }

    public function gc($max): int|false { return 0; }
}

// phalcon/incubator 1.3-3.4's Session\Adapter\Mongo, with the mongodb
// extension: read findOne({_id}).data, write a whole-document upsert of
// {_id, modified: now, data}, no lock (what handlers/mongo.go's
// layout=incubator reads and writes).
class IncubatorMongo implements SessionHandlerInterface
{
    private $m;
    private $ns;

    public function __construct(array $c)
    {
        $this->m = new MongoDB\Driver\Manager($c['uri']);
        $this->ns = $c['db'] . '.' . $c['collection'];
    }

    public function open($path, $name): bool { return true; }
    public function close(): bool { return true; }

    public function read($id): string|false
    {
        $rows = $this->m->executeQuery($this->ns, new MongoDB\Driver\Query(['_id' => $id], ['limit' => 1]))->toArray();
        return $rows[0]->data ?? '';
    }

    private function bulk(callable $f): bool
    {
        $bulk = new MongoDB\Driver\BulkWrite();
        $f($bulk);
        $this->m->executeBulkWrite($this->ns, $bulk);
        return true;
    }

    public function write($id, $data): bool
    {
        $doc = ['_id' => $id, 'modified' => new MongoDB\BSON\UTCDateTime(), 'data' => $data];
        return $this->bulk(fn($b) => $b->update(['_id' => $id], $doc, ['upsert' => true]));
    }

    public function destroy($id): bool
    {
        return $this->bulk(fn($b) => $b->delete(['_id' => $id], ['limit' => 1]));
    }

    public function gc($max): int|false { return 0; }
}

switch ($c['handler'] ?? '') {
case 'ci4':
    session_set_save_handler(new CI4Session($c), false);
    break;
case 'dalmp-sqlite':
    session_set_save_handler(new DALMPSQLite($c), false);
    break;
case 'incubator-mongo':
    session_set_save_handler(new IncubatorMongo($c), false);
    break;
}

session_id($c['id']);
$out = ['id' => $c['id'], 'ok' => false];
switch ($c['op']) {
case 'hold':
    if (!session_start()) {
        fwrite(STDOUT, "failed\n");
        exit(1);
    }
    fwrite(STDOUT, "locked\n");
    sleep(3600);
    exit(0);
case 'inc':
    if (!session_start()) break;
    $_SESSION[$c['key']] = ($_SESSION[$c['key']] ?? 0) + 1;
    $out['data'] = base64_encode(session_encode());
    $out['ok'] = session_write_close();
    break;
case 'read':
    if (!session_start()) break;
    $out['data'] = base64_encode(session_encode());
    $out['ok'] = session_write_close();
    break;
}
echo json_encode($out), "\n";
