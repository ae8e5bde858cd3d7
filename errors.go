package livedict

import (
	"errors"
	"fmt"
	"sort"
	"strings"

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
	// ErrLoadPanic: a loader (GetOrLoad, WithLoader) panicked.
	ErrLoadPanic = errors.New("livedict: the loader panicked")
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

// BatchError is the error of a GetMany, SetMany or DeleteMany in which some
// keys failed: Errs holds each failed key's error, and the results of the
// other keys stand. errors.Is and errors.As look into every one of them
// (errors.Is(err, ErrLimit) says whether a key was refused by the limit).
type BatchError[K comparable] struct {
	Errs map[K]error
}

func (e *BatchError[K]) Error() string {
	lines := make([]string, 0, len(e.Errs))
	for k, err := range e.Errs {
		lines = append(lines, fmt.Sprintf("key %v: %v", k, err))
	}
	sort.Strings(lines)
	const shown = 3
	more := ""
	if len(lines) > shown {
		more = fmt.Sprintf("; and %d more", len(lines)-shown)
		lines = lines[:shown]
	}
	return fmt.Sprintf("livedict: %d keys of the batch failed: %s%s", len(e.Errs), strings.Join(lines, "; "), more)
}

// Unwrap returns the keys' errors, for errors.Is and errors.As.
func (e *BatchError[K]) Unwrap() []error {
	errs := make([]error, 0, len(e.Errs))
	for _, err := range e.Errs {
		errs = append(errs, err)
	}
	return errs
}
