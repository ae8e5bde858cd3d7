package model

import ldruntime "github.com/livedict/livedict/runtime"

// The generated serializer is unexported: stores reach it through their
// codec. These wrappers call it exactly as the store's codec does, so the
// serializer benchmark measures what SQLite and Redis stores run.

// AppendSession appends the livedict encoding of *v to dst.
func AppendSession(dst []byte, v *Session) ([]byte, error) {
	return ldruntime.Encode(dst, v, livedictAppendSession)
}

// DecodeSession fills *v from its livedict encoding.
func DecodeSession(data []byte, v *Session) error {
	return ldruntime.Decode(data, v, livedictDecodeSession)
}

// CloneSession is the deep copy the memory store makes on every Set and Get.
func CloneSession(v Session) Session { return livedictCloneSession(v) }
