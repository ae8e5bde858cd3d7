package redis

import (
	"net/url"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

// Importing the package makes livedict.WithURI and livedict.OpenURI accept
// redis:// and rediss:// URIs (see OpenURL).
func init() {
	parse := func(u *url.URL) (livedict.Opener, error) {
		open, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return backend.Erase(open), nil
	}
	livedict.RegisterScheme("redis", parse)
	livedict.RegisterScheme("rediss", parse)
}
