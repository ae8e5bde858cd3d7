package redis

import (
	"context"
	"strconv"
)

// EntryKey returns the Redis key of the entry of key in bucket, for tests
// that damage entries below the backend.
func EntryKey(ctx context.Context, b *Backend, bucket, key string) (string, error) {
	name := escapeBucket.Replace(bucket)
	shards, err := b.c.HGet(ctx, b.cfg.prefix+":{"+name+"}:meta", "shards").Int()
	if err != nil {
		return "", err
	}
	return b.cfg.prefix + ":{" + name + "#" + strconv.Itoa(shardOf(key, shards)) + "}:e:" + key, nil
}

// The scripts of single-key writes, for BenchmarkScriptCost.
var (
	PutScript    = putScript
	DeleteScript = deleteScript
)
