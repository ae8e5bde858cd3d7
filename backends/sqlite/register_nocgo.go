//go:build !cgo

package sqlite

import (
	"fmt"
	"net/url"

	"github.com/livedict/livedict"
)

// Without cgo the driver (github.com/mattn/go-sqlite3) cannot work: the
// scheme is registered to say so where the URI is written, rather than as
// an unknown scheme.
func init() {
	livedict.RegisterScheme("sqlite", func(u *url.URL) (livedict.Opener, error) {
		return nil, fmt.Errorf("%w: WithURI(%q): the sqlite backend needs cgo (github.com/mattn/go-sqlite3); build with CGO_ENABLED=1 and a C compiler", livedict.ErrInvalidOption, u.Redacted())
	})
}
