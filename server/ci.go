package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
)

// CodeIgniter's flashdata and tempdata, with CodeIgniter's semantics (see
// session.Edit.Flash, session.Flashdata): only for the ci3 and ci4 layouts.

func (s *Server) needCI() error {
	if !session.IsCodeIgniter(s.info.Layout) {
		return errorf(http.StatusNotFound, codeNotSupported, "flashdata and tempdata are CodeIgniter's: this store's layout is %s", s.info.Layout)
	}
	return nil
}

// markValue reads the body of PUT flash/{key} and temp/{key}: one value in
// the JSON form.
func (s *Server) markValue(r *http.Request) (string, phpserialize.Value, error) {
	if err := s.needCI(); err != nil {
		return "", phpserialize.Value{}, err
	}
	id, body, err := s.idAndBody(r)
	if err != nil {
		return "", phpserialize.Value{}, err
	}
	v, err := phpserialize.ParseJSON(body)
	if err != nil {
		return "", phpserialize.Value{}, errorf(http.StatusBadRequest, codeBadRequest, "body: %v", err)
	}
	if err := s.checkClasses("variable "+strconv.Quote(r.PathValue("key")), v); err != nil {
		return "", phpserialize.Value{}, err
	}
	return id, v, nil
}

// putFlash serves PUT /v1/sessions/{id}/flash/{key}: set_flashdata.
func (s *Server) putFlash(w http.ResponseWriter, r *http.Request) error {
	id, v, err := s.markValue(r)
	if err != nil {
		return err
	}
	edit := session.Edit{Layout: s.info.Layout}
	edit.Flash(session.VarKey(s.info.Handler, r.PathValue("key")), v)
	return s.applyEdit(w, r, id, &edit)
}

// putTemp serves PUT /v1/sessions/{id}/temp/{key}?ttl=SECONDS:
// set_tempdata (default ttl 300, as CodeIgniter).
func (s *Server) putTemp(w http.ResponseWriter, r *http.Request) error {
	ttl := session.DefaultTempTTL
	if q := r.URL.Query().Get("ttl"); q != "" {
		n, err := strconv.ParseInt(q, 10, 32)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, codeBadRequest, "ttl=%q: want seconds, 0 or more", q)
		}
		ttl = time.Duration(n) * time.Second
	}
	id, v, err := s.markValue(r)
	if err != nil {
		return err
	}
	edit := session.Edit{Layout: s.info.Layout}
	edit.Temp(session.VarKey(s.info.Handler, r.PathValue("key")), v, s.cfg.Now().Add(ttl))
	return s.applyEdit(w, r, id, &edit)
}

// getFlash serves GET /v1/sessions/{id}/flash: the current flashdata.
func (s *Server) getFlash(w http.ResponseWriter, r *http.Request) error {
	return s.getMarked(w, r, func(sess *phpserialize.Array) *phpserialize.Array { return session.Flashdata(sess) })
}

// getTemp serves GET /v1/sessions/{id}/temp: tempdata not yet expired.
func (s *Server) getTemp(w http.ResponseWriter, r *http.Request) error {
	return s.getMarked(w, r, func(sess *phpserialize.Array) *phpserialize.Array { return session.Tempdata(sess, s.cfg.Now()) })
}

func (s *Server) getMarked(w http.ResponseWriter, r *http.Request, pick func(*phpserialize.Array) *phpserialize.Array) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	if err := s.needCI(); err != nil {
		return err
	}
	rec, err := s.store().Read(r.Context(), id)
	if err != nil {
		return err
	}
	sess, err := s.decode(rec.Data)
	if err != nil {
		return err
	}
	sessionHeaders(w, rec.Data, rec.TTL)
	return writeJSONBytes(w, http.StatusOK, phpserialize.AppendSessionJSON(nil, pick(sess)))
}
