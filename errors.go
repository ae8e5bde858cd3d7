package livedict

import (
	"fmt"

	"github.com/livedict/livedict/backend"
)

// Errors, matched with errors.Is. They are the errors backends return too,
// so a backend's error matches them whichever package it came through.
var (
	ErrClosed        = backend.ErrClosed        // the store was closed
	ErrInvalidTTL    = backend.ErrInvalidTTL    // TTL(d) under 1ms, over MaxTTL, or with a deadline past 2250
	ErrLimit         = backend.ErrLimit         // WithMaxKeys(n, RejectNew) is full
	ErrLockTimeout   = backend.ErrLockTimeout   // ctx ended before Lock got the key
	ErrLockLost      = backend.ErrLockLost      // the lease ended before Unlock or Extend
	ErrCorrupt       = backend.ErrCorrupt       // a stored record does not decode; it is left in place
	ErrSchema        = backend.ErrSchema        // a record was written by an incompatible schema
	ErrInvalidOption = backend.ErrInvalidOption // an option was given a bad value, or two options conflict
	// ErrOutcomeUnknown: a write was sent but its reply was lost, so it may
	// or may not have taken effect; it was not sent again.
	ErrOutcomeUnknown = backend.ErrOutcomeUnknown
)

// RecordError is a stored record that could not be decoded. It matches
// ErrCorrupt or ErrSchema with errors.Is and names the bucket and key; the
// record is left where it is.
type RecordError struct {
	Bucket string
	Key    string
	Err    error // wraps ErrCorrupt or ErrSchema, and the detail
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("bucket %q, key %q: %v", e.Bucket, e.Key, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
