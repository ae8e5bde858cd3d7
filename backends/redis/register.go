package redis

import (
	"context"
	"net/url"

	"github.com/livedict/livedict"
)

// Importing the package makes livedict.WithURI and livedict.OpenURI accept
// redis:// and rediss:// URIs (see OpenURL).
func init() {
	parse := func(u *url.URL) (livedict.Opener, error) {
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
	}
	livedict.RegisterScheme("redis", parse)
	livedict.RegisterScheme("rediss", parse)
}
