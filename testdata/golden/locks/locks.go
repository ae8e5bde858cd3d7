// Package locks holds its locks by pointer: livedictgen accepts it, and the
// generated code must pass go vet's copylocks check.
package locks

import (
	"sync"
	"sync/atomic"
)

// Session keeps its locks out of the stored value: only pointers to them.
//
//livedict:store ttl=10m
type Session struct {
	*sync.Mutex `livedict:"-"`

	User    string
	Roles   []string
	Profile *Profile
	Shards  [2]Shard

	rw   *sync.RWMutex   `livedict:"-"`
	hits *atomic.Int64   `livedict:"-"`
	wg   *sync.WaitGroup `livedict:"-"`
	cond *sync.Cond      `livedict:"-"`
}

// Profile is reached through a pointer; its deep copy takes Profile values.
type Profile struct {
	Bio  string
	once *sync.Once `livedict:"-"`
}

// Shard is held by value, in an array.
type Shard struct {
	Keys []string
	mu   *sync.Mutex `livedict:"-"`
}
