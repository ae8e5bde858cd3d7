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
	// ErrConflict reports that a conditional write lost a race. The store
	// core retries; users do not see it.
	ErrConflict = errors.New("livedict: version conflict")
)
