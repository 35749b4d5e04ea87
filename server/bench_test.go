package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/server"
)

// BenchmarkGet is GET /v1/sessions/{id} of a 1 KB session over a real
// Redis, in process (no HTTP connection): what the server itself costs,
// with its allocations. bench/load measures it over HTTP.
func BenchmarkGet(b *testing.B) {
	srv := testenv.NewRedis(b)
	st := openStore(b, "redis://"+srv.Addr+"/0")
	id := storetest.NewID()
	payload := []byte(`user_id|i:42;roles|a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}counter|i:0;`)
	for len(payload) < 1024 {
		payload = append(payload, `item|s:40:"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";`...)
	}
	if err := st.Write(testCtx(b), &handlers.Record{ID: id, Data: payload, TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	s, err := server.New(server.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/sessions/"+id, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET: %d %s", w.Code, w.Body)
		}
	}
}
