package livedict

import (
	"context"
	"net/url"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
)

// The redis schemes:
//
//	redis://host:6379/0                         one server, database 0
//	rediss://user:pass@host:6380/0              TLS
//	redis://h1:6379?addr=h2:6379&addr=h3:6379   a cluster
//	redis://host:6379/0?prefix=app&shards=32    backend options
//
// See redis.OpenURL for the parameters.
func init() {
	open := func(ctx context.Context, u *url.URL) (backend.Backend, error) {
		b, err := redis.OpenURL(ctx, u)
		if err != nil {
			return nil, err // not a nil *redis.Backend in a non-nil interface
		}
		return b, nil
	}
	schemes["redis"] = open
	schemes["rediss"] = open
}
