//go:build cgo

package sqlite

import (
	"context"
	"net/url"

	"github.com/livedict/livedict"
)

// Importing the package makes livedict.WithURI and livedict.OpenURI accept
// sqlite:// URIs (see OpenURL).
func init() {
	livedict.RegisterScheme("sqlite", func(u *url.URL) (livedict.Opener, error) {
		open, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (livedict.Backend, error) {
			b, err := open(ctx)
			if err != nil {
				return nil, err // not a nil *Backend in a non-nil interface
			}
			return b, nil
		}, nil
	})
}
