package model

import (
	"sync/atomic"

	ldruntime "github.com/livedict/livedict/runtime"
)

// The generated serializer is unexported: stores reach it through their
// codec. These wrappers call it exactly as the store's codec does, so the
// serializer benchmark measures what SQLite and Redis stores run.

// sessionSize is the size hint a store keeps per bucket: a little over the
// last record's length, so that encoding into a fresh buffer allocates it
// once.
var sessionSize atomic.Int64

// AppendSession appends the livedict encoding of *v to dst. Given no room,
// it starts a buffer of the hinted size, as a store does for each record.
func AppendSession(dst []byte, v *Session) ([]byte, error) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, sessionSize.Load())
	}
	out, err := ldruntime.Encode(dst, v, livedictAppendSession)
	sessionSize.Store(int64(len(out) + len(out)/8))
	return out, err
}

// DecodeSession fills *v from its livedict encoding.
func DecodeSession(data []byte, v *Session) error {
	return ldruntime.DecodeInto(data, v, livedictDecodeSession)
}

// CloneSession is the deep copy the memory store makes on every Set and Get.
func CloneSession(v Session) Session { return livedictCloneSession(v) }
