package backend

import "errors"

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
	// ErrOutcomeUnknown reports that a write was sent but its reply was
	// lost (a timeout, a dropped connection, or ctx ending while it was in
	// flight): it may or may not have taken effect. It is never retried
	// for the caller, since a second copy could take effect twice; read
	// the key to learn what happened.
	ErrOutcomeUnknown = errors.New("livedict: outcome unknown: the write may or may not have taken effect")
	// ErrConflict reports that a conditional write lost a race. The store
	// core retries; users do not see it.
	ErrConflict = errors.New("livedict: version conflict")
)
