package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
)

// The error codes of the JSON error body {"error": "...", "code": "..."},
// with their HTTP status.
const (
	codeBadRequest     = "bad_request"         // 400: malformed body, query or header
	codeInvalidID      = "invalid_id"          // 400: an id no PHP could have made; the store was not touched
	codeUnauthorized   = "unauthorized"        // 401: missing or wrong bearer token
	codeNotFound       = "not_found"           // 404: no such session (or expired), variable or route
	codeNotSupported   = "not_supported"       // 404: the store's layout has no such thing (flashdata outside CodeIgniter, refs outside DALMP)
	codeConflict       = "conflict"            // 409: the change would break a PHP reference (r:/R:) in the session
	codePrecondition   = "precondition_failed" // 412: If-Match / If-None-Match did not hold; nothing written
	codeTooLarge       = "too_large"           // 413: body over --max-body
	codeForbiddenClass = "forbidden_class"     // 422: an object of a class not in --allow-class; nothing written
	codeInvalidData    = "invalid_data"        // 422: data PHP could not read back with the store's handler; nothing written
	codeLockTimeout    = "lock_timeout"        // 423: the PHP side held the session's lock past the store's lock_timeout; nothing written
	codeStoreError     = "store_error"         // 503: the store failed or is unreachable
	codeCorrupt        = "corrupt_session"     // 502: the stored payload does not decode (PHP would destroy the session)
	codeInternal       = "internal"            // 500
)

// httpError is an error with its HTTP status and code.
type httpError struct {
	status int
	code   string
	msg    string
}

// Error returns the message.
func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) error {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// classify maps an error to its status and code.
func classify(err error) *httpError {
	var he *httpError
	var mbe *http.MaxBytesError
	var ce *session.ConflictError
	var ee *phpserialize.EncodeError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mbe):
		return &httpError{http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body over the limit of %d bytes", mbe.Limit)}
	case errors.As(err, &ce):
		return &httpError{http.StatusConflict, codeConflict, ce.Error()}
	case errors.As(err, &ee):
		return &httpError{http.StatusUnprocessableEntity, codeInvalidData, "nothing written: " + err.Error()}
	case errors.Is(err, handlers.ErrInvalidID):
		return &httpError{http.StatusBadRequest, codeInvalidID, err.Error()}
	case errors.Is(err, handlers.ErrNotFound):
		return &httpError{http.StatusNotFound, codeNotFound, "session not found"}
	case errors.Is(err, handlers.ErrLockTimeout):
		return &httpError{http.StatusLocked, codeLockTimeout, "timed out waiting for the session lock held by the PHP side; nothing written"}
	}
	return &httpError{http.StatusServiceUnavailable, codeStoreError, err.Error()}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := classify(err)
	msg := redactID(he.msg, r.PathValue("id"))
	if he.code == codeLockTimeout {
		w.Header().Set("Retry-After", "1")
	}
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, he.code})
	_ = writeJSONBytes(w, he.status, b)
}

// writeJSONBytes sends a JSON body.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
