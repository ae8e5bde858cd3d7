package livedict

import "github.com/livedict/livedict/backends/redis"

// The redis schemes:
//
//	redis://host:6379/0                         one server, database 0
//	rediss://user:pass@host:6380/0              TLS
//	redis://h1:6379?addr=h2:6379&addr=h3:6379   a cluster
//	redis://host:6379/0?prefix=app&shards=32    backend options
//
// See redis.OpenURL for the parameters.
func init() {
	schemes["redis"] = scheme(redis.ParseURL)
	schemes["rediss"] = schemes["redis"]
}
