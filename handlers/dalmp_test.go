package handlers_test

import (
	"fmt"
	"net/url"
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
	for _, scheme := range []string{"memcache", "memcached"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			c := mcConformance(t, scheme+"://"+testenv.Memcached(t)+"?"+dalmpQuery(nil), nil)
			c.SkipLocking = true
			storetest.Run(t, c)
		})
	}
}

// dalmpQuery is the query of a DALMP store URL with extra options.
func dalmpQuery(extra url.Values) string {
	q := url.Values{"layout": {"dalmp"}, "sessions_key": {dalmpSessionsKey}}
	for k, v := range extra {
		q[k] = v
	}
	return q.Encode()
}
