package handlers

import (
	"context"
	"errors"
)

// openMySQL is not written yet: this file is replaced by the backend's own.
func openMySQL(context.Context, *options) (Store, error) {
	return nil, errors.New("mysql stores are not implemented yet")
}
