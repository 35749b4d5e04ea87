package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
)

// sessionID returns the {id} of the route, refused with 400 if no PHP
// could have made it, before anything touches the store.
func (s *Server) sessionID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := handlers.CheckID(id); err != nil {
		return "", errorf(http.StatusBadRequest, codeInvalidID, "%v", err)
	}
	if s.cfg.IDPattern != nil && !s.cfg.IDPattern.MatchString(id) {
		return "", errorf(http.StatusBadRequest, codeInvalidID, "invalid session id: it does not match the id pattern %s", s.cfg.IDPattern)
	}
	return id, nil
}

// ETag returns the entity tag of a stored payload: the quoted xxhash64 of
// its bytes, in hex.
func ETag(payload []byte) string {
	var b [18]byte
	b[0], b[17] = '"', '"'
	h := xxhash.Sum64(payload)
	const hexDigits = "0123456789abcdef"
	for i := 16; i >= 1; i-- {
		b[i] = hexDigits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// etagMatch reports whether an If-Match / If-None-Match list names tag (weak
// tags compare by their opaque part, as for If-None-Match).
func etagMatch(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag {
			return true
		}
	}
	return false
}

// precondition checks If-Match and If-None-Match against the session as
// stored (cur nil: it does not exist), for a write.
func precondition(r *http.Request, cur *handlers.Record) error {
	if im := r.Header.Get("If-Match"); im != "" {
		switch {
		case cur == nil:
			return errorf(http.StatusPreconditionFailed, codePrecondition, "If-Match: the session does not exist; nothing written")
		case strings.TrimSpace(im) == "*":
		case !etagMatch(im, ETag(cur.Data)):
			return errorf(http.StatusPreconditionFailed, codePrecondition, "If-Match: the session has changed (its ETag is now %s); nothing written", ETag(cur.Data))
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && cur != nil {
		if strings.TrimSpace(inm) == "*" {
			return errorf(http.StatusPreconditionFailed, codePrecondition, "If-None-Match: *: the session exists; nothing written")
		}
		if etagMatch(inm, ETag(cur.Data)) {
			return errorf(http.StatusPreconditionFailed, codePrecondition, "If-None-Match: the session has that ETag; nothing written")
		}
	}
	return nil
}

// idAndBody returns the checked {id} and the body of a write.
func (s *Server) idAndBody(r *http.Request) (string, []byte, error) {
	id, err := s.sessionID(r)
	if err != nil {
		return "", nil, err
	}
	body, err := readBody(r)
	return id, body, err
}

// readBody reads the request body within the size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "reading the body: %v", err)
	}
	return b, nil
}

// checkClasses refuses objects, Serializable objects and enum cases of
// classes not on the allow list, anywhere in v.
func (s *Server) checkClasses(where string, v phpserialize.Value) error {
	switch v.Kind() {
	case phpserialize.KindObject, phpserialize.KindSerializable, phpserialize.KindEnum:
		if c := v.Class(); !s.allow[strings.ToLower(c)] {
			return errorf(http.StatusUnprocessableEntity, codeForbiddenClass, "%s: PHP class %q is not allowed (see --allow-class): an object of it could be unserialized by the PHP application; nothing written", where, c)
		}
	}
	if v.Kind() == phpserialize.KindArray || v.Kind() == phpserialize.KindObject {
		for _, e := range v.Array().Entries() {
			if err := s.checkClasses(where, e.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSession runs checkClasses on every variable.
func (s *Server) checkSession(sess *phpserialize.Array) error {
	for _, e := range sess.Entries() {
		if err := s.checkClasses("variable "+strconv.Quote(e.Key.String()), e.Value); err != nil {
			return err
		}
	}
	return nil
}

// sessionHeaders sets ETag and X-Session-TTL.
func sessionHeaders(w http.ResponseWriter, payload []byte, ttl time.Duration) {
	h := w.Header()
	h.Set("ETag", ETag(payload))
	h.Set("X-Session-TTL", strconv.FormatInt(int64(ttl/time.Second), 10))
}

// decode decodes a stored payload; one that does not decode is what PHP
// would destroy.
func (s *Server) decode(payload []byte) (*phpserialize.Array, error) {
	sess, err := phpserialize.DecodeSession(s.info.Handler, payload)
	if err != nil {
		return nil, corrupt(s.info.Handler, err)
	}
	return sess, nil
}

// corrupt is the error for a stored payload that does not decode.
func corrupt(h phpserialize.Handler, err error) error {
	return errorf(http.StatusBadGateway, codeCorrupt, "the stored session does not decode as %s (PHP would destroy it): %v", h, err)
}

// getSession serves GET /v1/sessions/{id}: the JSON form of the session,
// or of one variable (?key= or X-Session-Key).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	rec, err := s.store().Read(r.Context(), id)
	if err != nil {
		return err
	}
	tag := ETag(rec.Data)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || etagMatch(inm, tag)) {
		sessionHeaders(w, rec.Data, rec.TTL)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	// The session lives only until it is written as JSON below: decode it
	// into memory that the next GET uses again.
	dec, _ := s.decoders.Get().(*phpserialize.Decoder)
	if dec == nil {
		dec = &phpserialize.Decoder{ReuseMemory: true}
	}
	defer s.decoders.Put(dec)
	sess, err := dec.DecodeSession(s.info.Handler, rec.Data)
	if err != nil {
		return corrupt(s.info.Handler, err)
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.bufs.Put(bp)
	buf := (*bp)[:0]
	key, one := r.URL.Query()["key"]
	if !one {
		if k := r.Header.Get("X-Session-Key"); k != "" {
			key, one = []string{k}, true
		}
	}
	if one {
		v, ok := sess.Lookup(key[0])
		if !ok {
			return errorf(http.StatusNotFound, codeNotFound, "the session has no variable %q", key[0])
		}
		buf = phpserialize.AppendJSON(buf, v)
	} else {
		buf = phpserialize.AppendSessionJSON(buf, sess)
	}
	*bp = buf
	sessionHeaders(w, rec.Data, rec.TTL)
	return writeJSONBytes(w, http.StatusOK, buf)
}

// putSession serves PUT /v1/sessions/{id}: replace the whole session.
func (s *Server) putSession(w http.ResponseWriter, r *http.Request) error {
	id, body, err := s.idAndBody(r)
	if err != nil {
		return err
	}
	h := s.info.Handler
	sess, err := phpserialize.ParseSessionJSON(h, body)
	if err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "body: %v", err)
	}
	if err := s.checkSession(sess); err != nil {
		return err
	}
	payload, err := s.encode(sess)
	if err != nil {
		return err
	}
	err = session.Update(r.Context(), s.store(), id, nil, func(cur *handlers.Record) (session.Action, *handlers.Record, error) {
		if err := precondition(r, cur); err != nil {
			return session.Keep, nil, err
		}
		rec := &handlers.Record{ID: id, Data: payload}
		if cur != nil {
			rec.Meta = cur.Meta
		}
		return session.Write, rec, nil
	})
	if err != nil {
		return err
	}
	return s.respondSession(w, sess, payload)
}

// encode encodes a session with the store's handler and checks that PHP
// can read it back: what PHP could not decode, it would destroy.
func (s *Server) encode(sess *phpserialize.Array) ([]byte, error) {
	h := s.info.Handler
	payload, err := phpserialize.EncodeSession(h, sess)
	if err != nil {
		return nil, err
	}
	if err := phpserialize.ValidateSession(h, payload); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, codeInvalidData, "PHP could not read the session back with the %s handler; nothing written: %v", h, err)
	}
	return payload, nil
}

// respondSession answers a write with the session as stored.
func (s *Server) respondSession(w http.ResponseWriter, sess *phpserialize.Array, payload []byte) error {
	sessionHeaders(w, payload, s.info.TTL)
	return writeJSONBytes(w, http.StatusOK, phpserialize.AppendSessionJSON(nil, sess))
}

// patchBody is the body of PATCH: variables to set (in the JSON form) and
// to unset.
type patchBody struct {
	Set   json.RawMessage `json:"set"`
	Unset []string        `json:"unset"`
}

// patchSession serves PATCH /v1/sessions/{id}.
func (s *Server) patchSession(w http.ResponseWriter, r *http.Request) error {
	id, body, err := s.idAndBody(r)
	if err != nil {
		return err
	}
	var p patchBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, `body: want {"set": {...}, "unset": [...]}: %v`, err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, codeBadRequest, "body: data after the JSON object")
	}
	h := s.info.Handler
	edit := session.Edit{Layout: s.info.Layout}
	set := map[phpserialize.Key]bool{}
	if len(p.Set) > 0 && !bytes.Equal(bytes.TrimSpace(p.Set), []byte("null")) {
		vars, err := phpserialize.ParseSessionJSON(h, p.Set)
		if err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "body: set: %v", err)
		}
		if err := s.checkSession(vars); err != nil {
			return err
		}
		for _, e := range vars.Entries() {
			edit.Set(e.Key, e.Value)
			set[e.Key] = true
		}
	}
	for _, name := range p.Unset {
		k := session.VarKey(h, name)
		if set[k] {
			return errorf(http.StatusBadRequest, codeBadRequest, "body: variable %q is both set and unset", name)
		}
		edit.Delete(k)
	}
	return s.applyEdit(w, r, id, &edit)
}

// applyEdit applies an edit to the stored session under its lock and
// answers with the result.
func (s *Server) applyEdit(w http.ResponseWriter, r *http.Request, id string, edit *session.Edit) error {
	h := s.info.Handler
	var sess *phpserialize.Array
	var payload []byte
	err := session.Update(r.Context(), s.store(), id, nil, func(cur *handlers.Record) (session.Action, *handlers.Record, error) {
		if err := precondition(r, cur); err != nil {
			return session.Keep, nil, err
		}
		rec := &handlers.Record{ID: id}
		sess = &phpserialize.Array{}
		if cur != nil {
			d, err := s.decode(cur.Data)
			if err != nil {
				return session.Keep, nil, err
			}
			sess, rec.Meta = d, cur.Meta
		}
		if err := edit.Apply(h, sess); err != nil {
			return session.Keep, nil, err
		}
		var err error
		if payload, err = s.encode(sess); err != nil {
			return session.Keep, nil, err
		}
		rec.Data = payload
		return session.Write, rec, nil
	})
	if err != nil {
		return err
	}
	return s.respondSession(w, sess, payload)
}

// deleteSession serves DELETE /v1/sessions/{id}: 204, whether or not the
// session existed (unless If-Match says it must).
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	if r.Header.Get("If-Match") == "" && r.Header.Get("If-None-Match") == "" {
		err = s.store().Destroy(r.Context(), id)
	} else {
		err = session.Update(r.Context(), s.store(), id, nil, func(cur *handlers.Record) (session.Action, *handlers.Record, error) {
			if err := precondition(r, cur); err != nil {
				return session.Keep, nil, err
			}
			if cur == nil {
				return session.Keep, nil, nil
			}
			return session.Destroy, nil, nil
		})
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerate serves POST /v1/sessions/{id}/regenerate, as PHP's
// session_regenerate_id: the data moves to a new id; the old session is
// destroyed (?keep_old=1: rewritten, as session_regenerate_id(false)).
func (s *Server) regenerate(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	keepOld := false
	if v := r.URL.Query().Get("keep_old"); v != "" {
		if keepOld, err = strconv.ParseBool(v); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "keep_old=%q: want 1 or 0", v)
		}
	}
	st := s.store()
	var newID string
	var payload []byte
	err = session.Update(r.Context(), st, id, nil, func(cur *handlers.Record) (session.Action, *handlers.Record, error) {
		if cur == nil {
			return session.Keep, nil, handlers.ErrNotFound
		}
		if err := precondition(r, cur); err != nil {
			return session.Keep, nil, err
		}
		var err error
		if newID, err = s.freshID(r, st); err != nil {
			return session.Keep, nil, err
		}
		payload = cur.Data
		rec := &handlers.Record{ID: newID, Data: cur.Data, Meta: cur.Meta}
		if err := st.Write(r.Context(), rec); err != nil {
			return session.Keep, nil, err
		}
		if keepOld {
			old := *rec
			old.ID = id
			return session.Write, &old, nil
		}
		return session.Destroy, nil, nil
	})
	if err != nil {
		return err
	}
	sessionHeaders(w, payload, s.info.TTL)
	b, _ := json.Marshal(struct {
		ID string `json:"id"`
	}{newID})
	return writeJSONBytes(w, http.StatusOK, b)
}

// freshID makes a new id that is not in use (three tries, as PHP).
func (s *Server) freshID(r *http.Request, st handlers.Store) (string, error) {
	for range 3 {
		id, err := session.NewID(s.cfg.SIDLength, s.cfg.SIDBits)
		if err != nil {
			return "", err
		}
		_, err = st.Read(r.Context(), id)
		if errors.Is(err, handlers.ErrNotFound) {
			return id, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errorf(http.StatusInternalServerError, codeInternal, "three new ids in a row are taken")
}

// refs serves GET /v1/refs/{ref}: the ids of the sessions with a DALMP
// reference, for stores that can look them up (RefLister).
func (s *Server) refs(w http.ResponseWriter, r *http.Request) error {
	rl, ok := s.cfg.Store.(RefLister)
	if !ok {
		return errorf(http.StatusNotFound, codeNotSupported, "reference look-ups are not supported by this store (%s, layout %s)", s.info.Backend, s.info.Layout)
	}
	ids, err := rl.SessionsByRef(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.metrics.count("refs", err)
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(struct {
		IDs []string `json:"ids"`
	}{ids})
	return writeJSONBytes(w, http.StatusOK, b)
}
