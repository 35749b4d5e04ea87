<?php
// Replays Phalcon's session adapters (and the incubator's) for phpsess's
// interop tests. Phalcon's C extension cannot be installed here (Debian does
// not package it, and Phalcon 3 and 4 do not run on PHP 8), so each class
// below stores sessions with the same PHP extension calls, keys, values and
// lifetimes as the adapter, following ../shared/spec/phalcon-and-dalmp.md
// (sections 2 to 5, and the cphalcon / incubator sources cited there). It
// is registered with session_set_save_handler, so PHP's own session_start()
// and session_write_close() run, with its session.serialize_handler.
//
// Usage: php replay.php '<json>' where the JSON object has
//   adapter   redis | libmemcached | memcache | stream | files | database |
//             handlersocket | mongo
//   version   3, 4 or 5 (Phalcon's major version), or "incubator" /
//             "incubator-session" for mongo
//   id        the session id
//   set       {name: value} to store in $_SESSION (after n is incremented)
//   sleep_ms  how long to keep the session open (the lock held) before
//             writing
//   destroy   true to session_destroy() instead of writing
// plus the adapter's connection settings (host, port, index, prefix,
// save_path, driver, dsn parts, table, uri, db, collection, locking).
// It prints JSON: the payload read() returned (base64), n after the
// increment, whether the session started, and PHP errors.

declare(strict_types=1);

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');
ini_set('session.serialize_handler', 'php');
ini_set('display_errors', '0');
ini_set('log_errors', '0');

$cfg = json_decode($argv[1], true, 512, JSON_THROW_ON_ERROR);

/** Phalcon's unserialize of a stored value (Frontend\Data::afterRetrieve,
 *  Storage\Serializer\Php::unserialize): a failure, warning included, or
 *  anything but a string reads as an empty session, "". */
function phalcon_unserialize(mixed $c): string
{
    set_error_handler(static fn() => true);
    $u = is_string($c) ? unserialize($c) : false;
    restore_error_handler();
    return is_string($u) ? $u : '';
}

/** Phalcon 2.0.6-3.4 Session\Adapter\Redis (Cache\Backend\Redis + Frontend\None),
 *  Phalcon 4 Session\Adapter\Redis (Storage\Adapter\Redis, phpredis SERIALIZER_PHP),
 *  Phalcon 5 Session\Adapter\Redis (Storage\Adapter\Redis, Phalcon's Php serializer,
 *  the optional 5.14.2 lock). */
final class PhalconRedisReplay implements SessionHandlerInterface
{
    public string $read = '';
    private Redis $redis;
    private ?Redis $raw = null;
    private string $prefix;
    private ?string $lockKey = null;
    private string $token = '';

    public function __construct(private array $cfg)
    {
        $this->redis = new Redis();
        $this->redis->connect($cfg['host'], (int)$cfg['port']);
        if (($cfg['index'] ?? 0) > 0) {
            $this->redis->select((int)$cfg['index']);
        }
        $v = (int)$cfg['version'];
        if ($v === 3) {
            // Cache\Backend\Redis: "_PHCR" . prefix . id, no client prefix
            $this->prefix = '_PHCR' . ($cfg['prefix'] ?? '');
        } else {
            // Storage\Adapter\Redis sets the prefix with phpredis' OPT_PREFIX
            $this->prefix = $cfg['prefix'] ?? 'sess-reds-';
            $this->redis->setOption(Redis::OPT_PREFIX, $this->prefix);
            // Phalcon 4 maps "php" to phpredis' own serializer; Phalcon 5
            // serializes itself and leaves phpredis' serializer off.
            $this->redis->setOption(Redis::OPT_SERIALIZER, $v === 4 ? Redis::SERIALIZER_PHP : Redis::SERIALIZER_NONE);
            if ($v === 5 && !empty($cfg['locking'])) {
                // the lock key carries the prefix by hand, outside OPT_PREFIX
                $this->raw = new Redis();
                $this->raw->connect($cfg['host'], (int)$cfg['port']);
                if (($cfg['index'] ?? 0) > 0) {
                    $this->raw->select((int)$cfg['index']);
                }
            }
        }
    }

    private function key(string $id): string
    {
        return (int)$this->cfg['version'] === 3 ? $this->prefix . $id : $id;
    }

    public function open(string $path, string $name): bool { return true; }

    public function close(): bool
    {
        $this->unlock();
        return true;
    }

    public function read(string $id): string|false
    {
        $v = (int)$this->cfg['version'];
        if ($this->raw !== null) {
            // Phalcon 5.14.2: SET <prefix><id>-lock <token> NX EX lockExpiry,
            // lockRetries (100) tries lockWaitTime (50 ms) apart
            $this->token = bin2hex(random_bytes(16));
            $key = $this->prefix . $id . '-lock';
            for ($i = 0; ; $i++) {
                if ($this->raw->set($key, $this->token, ['nx', 'ex' => 30])) {
                    $this->lockKey = $key;
                    break;
                }
                if ($i >= 100) {
                    throw new RuntimeException('Unable to acquire session lock');
                }
                usleep(50000);
            }
        }
        if ($v === 3) {
            $c = $this->redis->get($this->key($id));
            return $this->read = ($c === false ? '' : (string)$c);
        }
        if ($v === 4) {
            // phpredis unserializes (or returns the raw bytes if it cannot)
            $c = $this->redis->get($id);
            return $this->read = ($c === false || $c === null ? '' : (is_string($c) ? $c : ''));
        }
        if (!$this->redis->exists($id)) {
            return $this->read = '';
        }
        $c = $this->redis->get($id);
        // Phalcon\Storage\Serializer\Php::unserialize: a warning or false is
        // a failure, and the adapter returns the default, ""
        return $this->read = phalcon_unserialize($c);
    }

    public function write(string $id, string $data): bool
    {
        $v = (int)$this->cfg['version'];
        if ($v === 3) {
            // Backend\Redis::save: SET, then EXPIRE when the lifetime is >= 1
            $this->redis->set($this->key($id), $data);
            $this->redis->expire($this->key($id), (int)($this->cfg['lifetime'] ?? 8600));
            return true;
        }
        $ttl = (int)($this->cfg['lifetime'] ?? 3600);
        return $this->redis->set($id, $v === 4 ? $data : serialize($data), $ttl);
    }

    public function destroy(string $id): bool
    {
        if ($this->redis->exists($this->key($id))) {
            $this->redis->del($this->key($id));
        }
        $this->unlock();
        return true;
    }

    private function unlock(): void
    {
        if ($this->lockKey !== null) {
            $this->raw->eval("if redis.call('get',KEYS[1])==ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end", [$this->lockKey, $this->token], 1);
            $this->lockKey = null;
        }
    }

    public function gc(int $max): int|false { return 0; }
}

/** Phalcon 1.3-3.4 Session\Adapter\Libmemcached (Cache\Backend\Libmemcached +
 *  Frontend\Data), Phalcon 4 and 5 Session\Adapter\Libmemcached
 *  (Storage\Adapter\Libmemcached). */
final class PhalconLibmemcachedReplay implements SessionHandlerInterface
{
    public string $read = '';
    private Memcached $m;
    private string $prefix;

    public function __construct(private array $cfg)
    {
        $this->m = new Memcached();
        $this->m->addServer($cfg['host'], (int)$cfg['port']);
        $v = (int)$cfg['version'];
        if ($v === 3) {
            $this->prefix = $cfg['prefix'] ?? '';
        } else {
            $this->prefix = '';
            $this->m->setOption(Memcached::OPT_PREFIX_KEY, $cfg['prefix'] ?? 'sess-memc-');
            // Phalcon 4: "php" is the extension's serializer, which never
            // serializes strings; Phalcon 5 serializes itself.
            $this->m->setOption(Memcached::OPT_SERIALIZER, Memcached::SERIALIZER_PHP);
        }
        // compression stays on, as in Phalcon: values of 2000 bytes and more
        // are stored compressed
    }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        $v = (int)$this->cfg['version'];
        $c = $this->m->get($this->prefix . $id);
        if (!$c) {
            return $this->read = '';
        }
        if ($v === 4) {
            return $this->read = (string)$c;
        }
        if ($v === 3 && is_numeric($c)) {
            return $this->read = (string)$c;
        }
        return $this->read = phalcon_unserialize($c);
    }

    public function write(string $id, string $data): bool
    {
        $v = (int)$this->cfg['version'];
        $ttl = (int)($this->cfg['lifetime'] ?? ($v === 3 ? 8600 : 3600));
        if ($v === 3) {
            $ttl = min($ttl, 2592000);
        }
        return $this->m->set($this->prefix . $id, $v === 4 ? $data : serialize($data), $ttl);
    }

    public function destroy(string $id): bool
    {
        $this->m->delete($this->prefix . $id);
        return true;
    }

    public function gc(int $max): int|false { return 0; }
}

/** Phalcon 1.3-3.4 Session\Adapter\Memcache (Cache\Backend\Memcache +
 *  Frontend\Data, pecl memcache). */
final class PhalconMemcacheReplay implements SessionHandlerInterface
{
    public string $read = '';
    private Memcache $m;

    public function __construct(private array $cfg)
    {
        $this->m = new Memcache();
        $this->m->connect($cfg['host'], (int)$cfg['port']);
    }

    private function key(string $id): string { return ($this->cfg['prefix'] ?? '') . $id; }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        $c = $this->m->get($this->key($id));
        if ($c === false || $c === '' || is_numeric($c)) {
            return $this->read = (string)$c;
        }
        return $this->read = phalcon_unserialize($c);
    }

    public function write(string $id, string $data): bool
    {
        return $this->m->set($this->key($id), serialize($data), 0, (int)($this->cfg['lifetime'] ?? 8600));
    }

    public function destroy(string $id): bool
    {
        $this->m->delete($this->key($id));
        return true;
    }

    public function gc(int $max): int|false { return 0; }
}

/** Phalcon 4.0.3+ and 5 Session\Adapter\Stream. */
final class PhalconStreamReplay implements SessionHandlerInterface
{
    public string $read = '';

    public function __construct(private array $cfg) {}

    private function name(string $id): string
    {
        return rtrim($this->cfg['save_path'], '/') . '/' . ($this->cfg['prefix'] ?? '') . $id;
    }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        $name = $this->name($id);
        if (!file_exists($name)) {
            return $this->read = '';
        }
        $fp = fopen($name, 'rb');
        if ($fp === false || !flock($fp, LOCK_SH)) {
            return $this->read = '';
        }
        $data = stream_get_contents($fp);
        flock($fp, LOCK_UN);
        fclose($fp);
        return $this->read = ($data === false ? '' : $data);
    }

    public function write(string $id, string $data): bool
    {
        return false !== file_put_contents($this->name($id), $data, LOCK_EX);
    }

    public function destroy(string $id): bool
    {
        $name = $this->name($id);
        if (file_exists($name) && is_file($name)) {
            unlink($name);
        }
        return true;
    }

    public function gc(int $max): int|false
    {
        $n = 0;
        foreach (glob(rtrim($this->cfg['save_path'], '/') . '/' . ($this->cfg['prefix'] ?? '') . '*') as $file) {
            if (file_exists($file) && is_file($file) && filemtime($file) < time() - $max) {
                unlink($file);
                $n++;
            }
        }
        return $n;
    }
}

/** incubator 1.3.5-3.4 Session\Adapter\Database, on mysqli or pgsql. */
final class IncubatorDatabaseReplay implements SessionHandlerInterface
{
    public string $read = '';
    private $db;
    private string $t;

    public function __construct(private array $cfg)
    {
        $this->t = $cfg['table'] ?? 'session_data';
        if ($cfg['driver'] === 'mysql') {
            $this->db = new mysqli($cfg['host'], $cfg['user'], $cfg['pass'], $cfg['db'], (int)$cfg['port']);
            $this->db->set_charset('utf8mb4');
        } else {
            $this->db = pg_connect(sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
                $cfg['host'], $cfg['port'], $cfg['user'], $cfg['pass'], $cfg['db']));
        }
    }

    /** @return list<array<string, ?string>> */
    private function q(string $sql, array $args): array
    {
        if ($this->cfg['driver'] === 'mysql') {
            $st = $this->db->prepare($sql);
            $st->bind_param(str_repeat('s', count($args)), ...$args);
            $st->execute();
            $res = $st->get_result();
            return $res === false ? [] : $res->fetch_all(MYSQLI_ASSOC);
        }
        $n = 0;
        $sql = preg_replace_callback('/\?/', static function () use (&$n) { return '$' . ++$n; }, $sql);
        $res = pg_query_params($this->db, $sql, $args);
        return pg_fetch_all($res) ?: [];
    }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        $max = (int)ini_get('session.gc_maxlifetime');
        $rows = $this->q("SELECT data FROM {$this->t} WHERE session_id = ? AND COALESCE(modified_at, created_at) + $max >= ?", [$id, (string)time()]);
        return $this->read = ($rows[0]['data'] ?? '');
    }

    public function write(string $id, string $data): bool
    {
        $rows = $this->q("SELECT COUNT(*) AS n FROM {$this->t} WHERE session_id = ?", [$id]);
        if ((int)$rows[0]['n'] > 0) {
            $this->q("UPDATE {$this->t} SET data = ?, modified_at = ? WHERE session_id = ?", [$data, (string)time(), $id]);
        } else {
            $this->q("INSERT INTO {$this->t} (session_id, data, created_at, modified_at) VALUES (?, ?, ?, NULL)", [$id, $data, (string)time()]);
        }
        return true;
    }

    public function destroy(string $id): bool
    {
        $this->q("DELETE FROM {$this->t} WHERE session_id = ?", [$id]);
        return true;
    }

    public function gc(int $max): int|false
    {
        $this->q("DELETE FROM {$this->t} WHERE COALESCE(modified_at, created_at) + $max < ?", [(string)time()]);
        return 0;
    }
}

/** incubator Session\Adapter\HandlerSocket's row operations on php_session,
 *  over mysqli (the handlersocket extension and plugin are not packaged). */
final class HandlerSocketReplay implements SessionHandlerInterface
{
    public string $read = '';
    private mysqli $db;
    private bool $found = false;
    private string $t;

    public function __construct(private array $cfg)
    {
        $this->t = $cfg['table'] ?? 'php_session';
        $this->db = new mysqli($cfg['host'], $cfg['user'], $cfg['pass'], $cfg['db'], (int)$cfg['port']);
        $this->db->set_charset('utf8mb4');
    }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        // executeSingle on the PRIMARY index with fields id,modified,data
        $st = $this->db->prepare("SELECT id, modified, data FROM {$this->t} WHERE id = ?");
        $st->bind_param('s', $id);
        $st->execute();
        $row = $st->get_result()->fetch_assoc();
        $this->found = $row !== null;
        return $this->read = ($row['data'] ?? '');
    }

    public function write(string $id, string $data): bool
    {
        $now = date('Y-m-d H:i:s');
        if ($this->found) {
            $st = $this->db->prepare("UPDATE {$this->t} SET id = ?, modified = ?, data = ? WHERE id = ?");
            $st->bind_param('ssss', $id, $now, $data, $id);
        } else {
            $st = $this->db->prepare("INSERT INTO {$this->t} (id, modified, data) VALUES (?, ?, ?)");
            $st->bind_param('sss', $id, $now, $data);
        }
        return $st->execute();
    }

    public function destroy(string $id): bool
    {
        $st = $this->db->prepare("DELETE FROM {$this->t} WHERE id = ?");
        $st->bind_param('s', $id);
        return $st->execute();
    }

    public function gc(int $max): int|false { return 0; }
}

/** incubator 1.3-3.4 Session\Adapter\Mongo (legacy save(): a full replace of
 *  {_id, modified, data}) and phalcon/incubator-session's Adapter\Mongo
 *  (insertOne with modified null, then $set modified and data), with the
 *  mongodb extension's Manager. */
final class IncubatorMongoReplay implements SessionHandlerInterface
{
    public string $read = '';
    private ?string $data = null;
    private MongoDB\Driver\Manager $m;
    private string $ns;

    public function __construct(private array $cfg)
    {
        $this->m = new MongoDB\Driver\Manager($cfg['uri']);
        $this->ns = $cfg['db'] . '.' . ($cfg['collection'] ?? 'session_data');
    }

    private function find(string $id): ?object
    {
        $rows = $this->m->executeQuery($this->ns, new MongoDB\Driver\Query(['_id' => $id], ['limit' => 1]))->toArray();
        return $rows[0] ?? null;
    }

    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }

    public function read(string $id): string|false
    {
        $doc = $this->find($id);
        if (!isset($doc->data)) {
            return $this->read = '';
        }
        $this->data = $doc->data;
        return $this->read = $doc->data;
    }

    public function write(string $id, string $data): bool
    {
        if ($this->data === $data) {
            return true;
        }
        $bulk = new MongoDB\Driver\BulkWrite();
        if ($this->cfg['version'] === 'incubator') {
            $bulk->update(['_id' => $id], ['_id' => $id, 'modified' => new MongoDB\BSON\UTCDateTime(), 'data' => $data], ['upsert' => true]);
        } elseif ($this->find($id) === null) {
            $bulk->insert(['_id' => $id, 'modified' => null, 'data' => $data]);
        } else {
            $bulk->update(['_id' => $id], ['$set' => ['modified' => new MongoDB\BSON\UTCDateTime(), 'data' => $data]]);
        }
        $this->m->executeBulkWrite($this->ns, $bulk);
        return true;
    }

    public function destroy(string $id): bool
    {
        $bulk = new MongoDB\Driver\BulkWrite();
        $bulk->delete(['_id' => $id], ['limit' => 1]);
        $this->m->executeBulkWrite($this->ns, $bulk);
        return true;
    }

    public function gc(int $max): int|false { return 0; }
}

$handler = match ($cfg['adapter']) {
    'redis' => new PhalconRedisReplay($cfg),
    'libmemcached' => new PhalconLibmemcachedReplay($cfg),
    'memcache' => new PhalconMemcacheReplay($cfg),
    'stream' => new PhalconStreamReplay($cfg),
    'database' => new IncubatorDatabaseReplay($cfg),
    'handlersocket' => new HandlerSocketReplay($cfg),
    'mongo' => new IncubatorMongoReplay($cfg),
    'files' => null, // Phalcon <= 3 Session\Adapter\Files: PHP's own handler
};
if ($handler === null) {
    ini_set('session.save_handler', 'files');
    session_save_path($cfg['save_path']);
} else {
    session_set_save_handler($handler, true);
}
if (isset($cfg['timezone'])) {
    date_default_timezone_set($cfg['timezone']);
}
if (isset($cfg['gc_maxlifetime'])) {
    ini_set('session.gc_maxlifetime', (string)$cfg['gc_maxlifetime']);
}

session_id($cfg['id']);
error_clear_last();
$started = session_start();
$err = error_get_last()['message'] ?? '';
$read = $handler === null ? session_encode() : $handler->read;
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
foreach ($cfg['set'] ?? [] as $k => $v) {
    $_SESSION[$k] = $v;
}
if (!empty($cfg['sleep_ms'])) {
    usleep((int)$cfg['sleep_ms'] * 1000);
}
if (!empty($cfg['destroy'])) {
    session_destroy();
} else {
    session_write_close();
}
$err = $err ?: (error_get_last()['message'] ?? '');
echo json_encode(['started' => $started, 'read' => base64_encode((string)$read), 'n' => $_SESSION['n'], 'error' => $err]);
