package handlers_test

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// dalmpSessionsKey is the DALMP_SESSIONS_KEY the tests' PHP side and stores
// share: the salt of the cache backends' reference index.
const dalmpSessionsKey = "/srv/app/vendor/dalmp/dalmp/src/DALMP/Sessions/Redis.php"

// ------------------------------------------------------------ conformance --

func TestDALMPConformance(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		addr := testenv.Redis(t)
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				return openRedisStore(t, fmt.Sprintf("redis://%s/9?%s", addr, dalmpQuery(extra)))
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				return filesOpen(t, "file://"+dir+"?"+dalmpWith(extra, "layout", "dalmp").Encode())
			},
			SkipLocking: true,
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testenv.PHP(t) // only to skip with the server tests in -short mode
		db := filepath.Join(t.TempDir(), "dalmp_sessions.db")
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				extra = dalmpWith(dalmpWith(extra, "create_table", "on"), "layout", "dalmp")
				return openRedisStore(t, "sqlite://"+db+"?"+extra.Encode())
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		// DALMP's documented table keeps data in a utf8 column, which
		// cannot hold the suite's non-UTF-8 payload (TestDALMPMySQLCharset);
		// the same table with a binary data column holds any.
		e := newSQLEnv(t, "mysql")
		if _, err := e.raw(t).ExecContext(tctx(t), dalmpMySQLBlobDDL); err != nil {
			t.Fatal(err)
		}
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				kv := []string{"layout", "dalmp"}
				for k, v := range extra {
					kv = append(kv, k, v[0])
				}
				return e.open(t, kv...)
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	for _, scheme := range []string{"memcache", "memcached"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			c := mcConformance(t, scheme+"://"+testenv.Memcached(t)+"?"+dalmpQuery(nil), nil)
			c.SkipLocking = true
			storetest.Run(t, c)
		})
	}
}

// dalmpMySQLBlobDDL is DALMP's documented table with a binary data column.
const dalmpMySQLBlobDDL = "CREATE TABLE `dalmp_sessions` (\n" +
	"  `sid` varchar(128) CHARACTER SET utf8 COLLATE utf8_bin NOT NULL DEFAULT '',\n" +
	"  `expiry` int(11) unsigned NOT NULL DEFAULT '0',\n" +
	"  `data` longblob,\n" +
	"  `ref` varchar(255) DEFAULT NULL,\n" +
	"  `ts` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n" +
	"  PRIMARY KEY (`sid`),\n" +
	"  KEY `index` (`ref`,`sid`,`expiry`)\n" +
	") DEFAULT CHARSET=utf8"

// dalmpWith returns extra with one more option.
func dalmpWith(extra url.Values, k, v string) url.Values {
	q := url.Values{k: {v}}
	for kk, vv := range extra {
		q[kk] = vv
	}
	return q
}

// dalmpQuery is the query of a DALMP store URL with extra options.
func dalmpQuery(extra url.Values) string {
	q := url.Values{"layout": {"dalmp"}, "sessions_key": {dalmpSessionsKey}}
	for k, v := range extra {
		q[k] = v
	}
	return q.Encode()
}
