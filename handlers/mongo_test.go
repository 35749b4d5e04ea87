package handlers_test

// Tests of the mongodb:// store (mongo.go) on FerretDB, a MongoDB-wire
// server (FerretDB has no TTL indexes; the store does not rely on any).
// The PHP side replays the incubator's Mongo adapters with the mongodb
// extension (testdata/phalcon/replay.php): Phalcon cannot be installed here,
// see phalcon_test.go.

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mongoopts "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// mongoRaw is a driver collection, to look at documents as stored.
func mongoRaw(t *testing.T, uri, db, coll string) *mongo.Collection {
	t.Helper()
	c, err := mongo.Connect(mongoopts.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c.Database(db).Collection(coll)
}

// mongoDoc returns the session document id as stored.
func mongoDoc(t *testing.T, c *mongo.Collection, id string) bson.Raw {
	t.Helper()
	raw, err := c.FindOne(tctx(t), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatalf("find %s: %v", id, err)
	}
	return raw
}

// mongoShape describes a document's fields and their BSON types, in order.
func mongoShape(t *testing.T, doc bson.Raw) string {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, e := range elems {
		parts = append(parts, e.Key()+":"+e.Value().Type.String())
	}
	return strings.Join(parts, " ")
}

func TestMongoConformance(t *testing.T) {
	uri := testenv.FerretDB(t)
	for _, layout := range []string{"incubator", "incubator-session"} {
		t.Run(layout, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					q := url.Values{"layout": {layout}, "collection": {"conf_" + strings.ReplaceAll(layout, "-", "_")}}
					for k, v := range extra {
						q[k] = v
					}
					return openStore(t, uri+"phpsess?"+q.Encode())
				},
				// No expiry on read: the adapters read a session until gc()
				// or destroy() removes it.
				Expires:     false,
				SkipLocking: true,
				Text:        true,
			})
		})
	}
}

func TestMongoPHP(t *testing.T) {
	uri := testenv.FerretDB(t)
	for _, layout := range []string{"incubator", "incubator-session"} {
		t.Run(layout, func(t *testing.T) {
			t.Parallel()
			coll := "php_" + strings.ReplaceAll(layout, "-", "_")
			s := openStore(t, uri+"phpsess?layout="+layout+"&collection="+coll)
			raw := mongoRaw(t, uri, "phpsess", coll)
			cfg := map[string]any{"adapter": "mongo", "version": layout, "uri": uri, "db": "phpsess", "collection": coll}
			goID, phpID := phalconInterop(t, s, cfg, storetest.NewID)
			// Whoever wrote it last, the document has the adapter's shape.
			for _, id := range []string{goID, phpID} {
				if got := mongoShape(t, mongoDoc(t, raw, id)); got != "_id:string modified:UTC datetime data:string" {
					t.Errorf("document %s: %s", id, got)
				}
			}
			// A new session: incubator-session inserts modified: null (Go
			// too), which no gc() ever matches; incubator dates it.
			id := storetest.NewID()
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: phalconPayload(t, 1)}); err != nil {
				t.Fatal(err)
			}
			want := "_id:string modified:UTC datetime data:string"
			if layout == "incubator-session" {
				want = "_id:string modified:null data:string"
			}
			if got := mongoShape(t, mongoDoc(t, raw, id)); got != want {
				t.Errorf("Go's new document: %s, want %s", got, want)
			}
			if rec := phalconCheck(t, s, id, 1); (rec.TTL == 0) != (layout == "incubator-session") {
				t.Errorf("TTL of the new document: %v", rec.TTL)
			}
			if r := phalconMustPHP(t, phalconWith(cfg, "id", id)); r.N != 2 {
				t.Fatalf("PHP on Go's new document: n=%d", r.N)
			}
			phalconCheck(t, s, id, 2)
		})
	}
}

func TestMongoGCAndList(t *testing.T) {
	t.Parallel()
	uri := testenv.FerretDB(t)
	s := openStore(t, uri+"phpsess?layout=incubator-session&collection=gc&ttl=60")
	raw := mongoRaw(t, uri, "phpsess", "gc")
	old, fresh, never := storetest.NewID(), storetest.NewID(), storetest.NewID()
	for _, id := range []string{old, fresh} {
		// written twice: the second write dates modified
		for range 2 {
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: phalconPayload(t, 1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Write(tctx(t), &handlers.Record{ID: never, Data: phalconPayload(t, 1)}); err != nil {
		t.Fatal(err)
	}
	past := bson.NewDateTimeFromTime(time.Now().Add(-2 * time.Minute))
	if _, err := raw.UpdateOne(tctx(t), bson.D{{Key: "_id", Value: old}}, bson.D{{Key: "$set", Value: bson.D{{Key: "modified", Value: past}}}}); err != nil {
		t.Fatal(err)
	}
	// other documents of the collection are not sessions
	if _, err := raw.InsertOne(tctx(t), bson.D{{Key: "_id", Value: "not a session id"}, {Key: "data", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Read(tctx(t), old); err != nil || rec.TTL != 0 {
		t.Fatalf("Read of an old document: %v, TTL %v (the adapters read it; TTL 0)", err, rec)
	}
	n, err := s.(handlers.Collector).GC(tctx(t))
	if err != nil || n != 1 {
		t.Fatalf("GC = %d, %v; want the one old document", n, err)
	}
	if _, err := s.Read(tctx(t), old); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Read after GC: %v", err)
	}
	var ids []string
	if err := s.(handlers.Lister).List(tctx(t), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || !(ids[0] == fresh || ids[1] == fresh) || !(ids[0] == never || ids[1] == never) {
		t.Errorf("List = %v, want %s and %s", ids, fresh, never)
	}
	if err := s.(handlers.Toucher).Touch(tctx(t), storetest.NewID(), 0); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Touch of a missing session: %v", err)
	}
	// A data field that is not a string is not the adapters'.
	bad := storetest.NewID()
	if _, err := raw.InsertOne(tctx(t), bson.D{{Key: "_id", Value: bad}, {Key: "data", Value: bson.Binary{Data: []byte("n|i:1;")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(tctx(t), bad); !errors.Is(err, handlers.ErrLayoutMismatch) {
		t.Errorf("Read of binary data: %v, want ErrLayoutMismatch", err)
	}
}

func TestMongoOptions(t *testing.T) {
	t.Parallel()
	uri := testenv.FerretDB(t)
	for _, tc := range []struct{ url, want string }{
		{uri + "phpsess?lock=on", "take no lock"},
		{uri + "?layout=incubator", "database name"},
		{uri + "phpsess?layout=phalcon5", "want one of"},
		{uri + "phpsess?collection=system.x", "not a collection name"},
		{uri + "phpsess?colection=x", "unknown option"},
		{"mongodb://:secret-pw@127.0.0.1:1/phpsess?timeout=0.3", "mongodb"},
	} {
		_, err := handlers.Open(tctx(t), tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	s := openStore(t, uri+"phpsess")
	if i := s.Info(); i.Backend != "mongodb" || i.Layout != "incubator" || i.TTL != 1440*time.Second || i.Locking {
		t.Errorf("defaults: %+v", i)
	}
}
