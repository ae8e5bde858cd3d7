//go:build cgo

package sqlite

import (
	"net/url"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

// Importing the package makes livedict.WithURI and livedict.OpenURI accept
// sqlite:// URIs (see OpenURL).
func init() {
	livedict.RegisterScheme("sqlite", func(u *url.URL) (livedict.Opener, error) {
		open, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return backend.Erase(open), nil
	})
}
