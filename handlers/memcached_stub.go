package handlers

import (
	"context"
	"errors"
)

// openMemcached is not written yet: this file is replaced by the backend's own.
func openMemcached(context.Context, *options) (Store, error) {
	return nil, errors.New("memcached stores are not implemented yet")
}
