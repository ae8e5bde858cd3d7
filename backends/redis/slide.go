package redis

import (
	"context"
	"errors"
)

// Placeholders until this backend's sliding expiry lands.

var errNoSlide = errors.New("livedict/redis: sliding expiry is not implemented yet")

func (bk *bucket) Touch(ctx context.Context, key string, now int64) (bool, error) {
	return false, errNoSlide
}

func (bk *bucket) Retime(ctx context.Context, key string, deadline, idle int64, now int64) (bool, error) {
	return false, errNoSlide
}
