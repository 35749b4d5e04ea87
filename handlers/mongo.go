package handlers

// The mongodb:// backend: the Phalcon incubator's Mongo session adapters,
// one document per session in one collection.
//
//	mongodb://[user:pass@]HOST[:PORT][,HOST:PORT...]/DB?layout=incubator&collection=session_data
//
// Layouts:
//
//	incubator          phalcon/incubator 1.3 to 3.4's Session\Adapter\Mongo
//	                   (Phalcon 1 to 3): write replaces the whole document
//	                   {_id: <id>, modified: <date now>, data: <payload>}
//	                   (legacy MongoCollection::save with a MongoDate; the
//	                   3.4.x branch's updateOne upsert with a UTCDateTime
//	                   writes the same document)
//	incubator-session  phalcon/incubator-session's Adapter\Mongo (Phalcon 4
//	                   and 5): a new session is insertOne({_id, modified:
//	                   null, data}), a changed one updateOne({_id}, {$set:
//	                   {modified: <date now>, data}})
//
// Both read findOne({_id}) and return data, with no expiry check: a
// session lives until gc() or destroy() removes it. Their gc() deletes
// {modified: {$lte: now - gc_maxlifetime}}; the newer code builds that date
// from seconds where UTCDateTime takes milliseconds, so it matches nothing
// and sessions are never collected (nor is modified: null ever matched).
// Go's GC does what the legacy adapter's does, with a real date: it removes
// the documents whose modified date is older than ttl= (default 1440, the
// session.gc_maxlifetime it is given); Read reports the TTL that date
// leaves (0 for modified: null). Expiry never relies on the server (no TTL
// index).
//
// data is a BSON string, which PHP's BSON encoder only builds from valid
// UTF-8: a payload that is not is refused with ErrNotText, and one of more
// than 16 MiB (MongoDB's document limit) with ErrTooLarge. Neither adapter
// locks: lock=on is refused. incubator 1.2's documents ({_id: ObjectId,
// session_id, data}) are not supported.
//
// Options: layout=, collection= (default session_data, the collection the
// README passes), ttl=, handler=, timeout= (each operation, default 5 s),
// and the driver's authSource=, authMechanism=, replicaSet=,
// directConnection=, tls=, tlsCAFile=, tlsCertificateKeyFile=,
// tlsInsecure=, passed on as they are.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mongoopts "go.mongodb.org/mongo-driver/v2/mongo/options"
)

const mongoBackend = "mongodb"

// mongoMaxData bounds a payload: a document holds 16 MiB, the id and field
// names included.
const mongoMaxData = 16<<20 - 4096

// mongoListBatch is how many ids one cursor batch of List holds.
const mongoListBatch = 500

// mongoDriverOptions are the connection-string options passed on to the
// driver.
func mongoDriverOptions() []string {
	return []string{"authSource", "authMechanism", "replicaSet", "directConnection", "tls", "tlsCAFile", "tlsCertificateKeyFile", "tlsInsecure"}
}

// mongoStore is a collection of incubator session documents.
type mongoStore struct {
	client  *mongo.Client
	coll    *mongo.Collection
	info    Info
	session bool // incubator-session's insert/update, else incubator's replace
	text    textRules
}

// openMongo opens a mongodb:// store URL.
func openMongo(ctx context.Context, o *options) (Store, error) {
	c := parseCommon(o, []string{"incubator", "incubator-session"}, map[string]layoutDefaults{
		"incubator":         {TTL: 1440 * time.Second},
		"incubator-session": {TTL: 1440 * time.Second},
	})
	var bad []string
	if given(o, "lock") && c.Lock {
		bad = append(bad, "lock=on: the incubator's Mongo adapters take no lock")
	}
	if given(o, "lock_timeout") {
		bad = append(bad, "lock_timeout=: the incubator's Mongo adapters take no lock")
	}
	u := o.URL
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.ContainsAny(db, "/\\. \"$") {
		bad = append(bad, "want the database name as the URL path, as in mongodb://host:27017/app")
	}
	coll := o.String("collection", "session_data")
	if coll == "" || strings.ContainsAny(coll, "$\x00") || strings.HasPrefix(coll, "system.") {
		bad = append(bad, fmt.Sprintf("collection=%q: not a collection name", coll))
	}
	timeout := o.Duration("timeout", 5*time.Second)
	if timeout <= 0 {
		bad = append(bad, "timeout= must be more than 0")
	}
	if c.TTL < time.Second {
		bad = append(bad, "ttl= must be at least 1 second (session.gc_maxlifetime)")
	}
	if u.Host == "" {
		bad = append(bad, "mongodb URL has no host")
	}
	pass := url.Values{}
	for _, k := range mongoDriverOptions() {
		if v := o.String(k, ""); v != "" {
			pass.Set(k, v)
		}
	}
	if err := o.Err(); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	driverURL := url.URL{Scheme: "mongodb", User: u.User, Host: u.Host, Path: "/", RawQuery: pass.Encode()}
	opts := mongoopts.Client().ApplyURI(driverURL.String()).
		SetTimeout(timeout).
		SetConnectTimeout(timeout).
		SetServerSelectionTimeout(timeout).
		SetAppName("phpsess")
	client, err := mongo.Connect(opts)
	if err != nil {
		// The driver's URI errors can quote the URI; say which part.
		return nil, fmt.Errorf("mongodb: connection options %s: invalid", Redact(driverURL.String()))
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	return &mongoStore{
		client:  client,
		coll:    client.Database(db).Collection(coll),
		session: c.Layout == "incubator-session",
		text:    textRules{what: "a BSON string"},
		info: Info{
			URL:     Redact(u.String()),
			Backend: mongoBackend,
			Layout:  c.Layout,
			Handler: c.Handler,
			TTL:     c.TTL,
		},
	}, nil
}

// Info describes the store.
func (s *mongoStore) Info() Info { return s.info }

// Close disconnects.
func (s *mongoStore) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

func mongoFail(op, id string, err error) error { return opError(op, mongoBackend, id, err) }

// idFilter selects the session's document.
func idFilter(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

// Read returns the session document's data, with the TTL its modified date
// leaves (0 when it has none). There is no expiry on read.
func (s *mongoStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, mongoFail("read", id, err)
	}
	raw, err := s.coll.FindOne(ctx, idFilter(id)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, mongoFail("read", id, ErrNotFound)
	}
	if err != nil {
		return nil, mongoFail("read", id, err)
	}
	rec := &Record{ID: id}
	switch v, err := raw.LookupErr("data"); {
	case err != nil || v.Type == bson.TypeNull:
		// the adapters read a document without data as an empty session
	case v.Type == bson.TypeString:
		str, _ := v.StringValueOK()
		rec.Data = []byte(str)
	default:
		return nil, mongoFail("read", id, fmt.Errorf("%w: the data field is BSON %s, not the string the incubator adapters write", ErrLayoutMismatch, v.Type))
	}
	if v, err := raw.LookupErr("modified"); err == nil && v.Type == bson.TypeDateTime {
		rec.Modified = v.Time()
		left := rec.Modified.Add(s.info.TTL).Sub(time.Now()).Round(time.Second)
		rec.TTL = max(0, left)
	}
	return rec, nil
}

// modified is the date a write sets: now, dated so that GC removes the
// document when ttl (0: the lifetime) is over.
func (s *mongoStore) modified(ttl time.Duration) (bson.DateTime, bool) {
	offset := time.Duration(0)
	if ttl > 0 {
		offset = ttl - s.info.TTL
	}
	return bson.NewDateTimeFromTime(time.Now().Add(offset)), offset != 0
}

// Write stores the session as the layout's adapter does: incubator
// replaces the document; incubator-session updates data and modified, or
// inserts {_id, modified: null, data} for a new session.
func (s *mongoStore) Write(ctx context.Context, rec *Record) error {
	if rec == nil {
		return errors.New("mongodb write: nil record")
	}
	if err := s.checkWrite(rec); err != nil {
		return mongoFail("write", rec.ID, err)
	}
	return mongoFail("write", rec.ID, s.put(ctx, rec))
}

func (s *mongoStore) checkWrite(rec *Record) error {
	if err := checkID(rec.ID); err != nil {
		return err
	}
	if rec.TTL < 0 {
		return fmt.Errorf("negative TTL %v", rec.TTL)
	}
	if len(rec.Data) > mongoMaxData {
		return fmt.Errorf("%w: %d bytes, more than a MongoDB document holds", ErrTooLarge, len(rec.Data))
	}
	return s.text.check(rec.Data)
}

func (s *mongoStore) put(ctx context.Context, rec *Record) error {
	mod, dated := s.modified(rec.TTL)
	data := string(rec.Data)
	if !s.session {
		doc := bson.D{{Key: "_id", Value: rec.ID}, {Key: "modified", Value: mod}, {Key: "data", Value: data}}
		_, err := s.coll.ReplaceOne(ctx, idFilter(rec.ID), doc, mongoopts.Replace().SetUpsert(true))
		return err
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "modified", Value: mod}, {Key: "data", Value: data}}}}
	for tries := 2; ; tries-- {
		res, err := s.coll.UpdateOne(ctx, idFilter(rec.ID), set)
		if err != nil || res.MatchedCount > 0 {
			return err
		}
		var first any // a new session's modified is null, as the adapter inserts it
		if dated {
			first = mod
		}
		_, err = s.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: rec.ID}, {Key: "modified", Value: first}, {Key: "data", Value: data}})
		if err == nil || !mongo.IsDuplicateKeyError(err) || tries == 1 {
			return err
		}
	}
}

// Destroy deletes the session's document.
func (s *mongoStore) Destroy(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return mongoFail("destroy", id, err)
	}
	_, err := s.coll.DeleteOne(ctx, idFilter(id))
	return mongoFail("destroy", id, err)
}

// Touch sets the document's modified date (dated for ttl, 0 meaning the
// lifetime) without rewriting data. A missing session is ErrNotFound.
func (s *mongoStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	if err := checkID(id); err != nil {
		return mongoFail("touch", id, err)
	}
	if ttl < 0 {
		return mongoFail("touch", id, fmt.Errorf("negative TTL %v", ttl))
	}
	mod, _ := s.modified(ttl)
	res, err := s.coll.UpdateOne(ctx, idFilter(id), bson.D{{Key: "$set", Value: bson.D{{Key: "modified", Value: mod}}}})
	if err == nil && res.MatchedCount == 0 {
		err = ErrNotFound
	}
	return mongoFail("touch", id, err)
}

// GC removes the documents whose modified date is older than the lifetime
// (the legacy adapter's gc(), with the date it means); documents with
// modified: null are kept, as every version keeps them.
func (s *mongoStore) GC(ctx context.Context) (int, error) {
	cutoff := bson.NewDateTimeFromTime(time.Now().Add(-s.info.TTL))
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "modified", Value: bson.D{{Key: "$lte", Value: cutoff}}}})
	if err != nil {
		return 0, fmt.Errorf("mongodb gc: %w", err)
	}
	return int(res.DeletedCount), nil
}

// List reports the id of every session document, through a cursor of
// mongoListBatch ids a batch; documents whose _id is not a valid session
// id are skipped.
func (s *mongoStore) List(ctx context.Context, fn func(id string) error) error {
	cur, err := s.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$type", Value: "string"}}}},
		mongoopts.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(mongoListBatch))
	if err != nil {
		return fmt.Errorf("mongodb list: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok || checkID(id) != nil {
			continue
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongodb list: %w", err)
	}
	return nil
}

// Count estimates the number of documents in the collection.
func (s *mongoStore) Count(ctx context.Context) (int64, error) {
	n, err := s.coll.EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("mongodb count: %w", err)
	}
	return n, nil
}
