//go:build cgo

package livedict

import (
	"context"
	"net/url"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
)

// The sqlite scheme needs cgo (github.com/mattn/go-sqlite3):
//
//	sqlite:///abs/path/app.db     an absolute path
//	sqlite://app.db               a path relative to the working directory
//	sqlite:///abs/app.db?durability=full&busy_timeout=10s&poll_interval=100ms&readers=8
//
// See sqlite.OpenURL for the parameters.
func init() {
	schemes["sqlite"] = func(ctx context.Context, u *url.URL) (backend.Backend, error) {
		b, err := sqlite.OpenURL(ctx, u)
		if err != nil {
			return nil, err // not a nil *sqlite.Backend in a non-nil interface
		}
		return b, nil
	}
}
