package backend

import (
	"errors"
	"fmt"
)

// The errors of livedict. Package livedict re-exports them; match them with
// errors.Is.
var (
	ErrClosed        = errors.New("livedict: store closed")
	ErrInvalidTTL    = errors.New("livedict: invalid TTL")
	ErrLimit         = errors.New("livedict: key limit reached")
	ErrLockTimeout   = errors.New("livedict: lock not acquired before the context ended")
	ErrLockLost      = errors.New("livedict: lock lease lost")
	ErrCorrupt       = errors.New("livedict: corrupt record")
	ErrSchema        = errors.New("livedict: record written by an incompatible schema")
	ErrInvalidOption = errors.New("livedict: invalid option")
	// ErrConflict reports that a conditional write lost a race. The store
	// core retries; users do not see it.
	ErrConflict = errors.New("livedict: version conflict")
)

// RecordError is a record that could not be decoded. It matches ErrCorrupt
// or ErrSchema with errors.Is and names the bucket and key; the record is
// left where it is.
type RecordError struct {
	Bucket string
	Key    string
	Err    error // wraps ErrCorrupt or ErrSchema, and the detail
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("bucket %q, key %q: %v", e.Bucket, e.Key, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
