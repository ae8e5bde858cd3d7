package redis

import (
	"context"
	"fmt"
)

// Touch and Retime run retimeScript, sent at most once like every script
// that writes (once.go): when no reply came, they report an error wrapping
// backend.ErrOutcomeUnknown. Resending would not be safe, although either
// call run twice in a row changes nothing the first did not: the two
// copies may run apart, with another client's write between them. A late
// Touch then revives an entry a Retime has just expired (to a deadline
// past that client's now but later than the Touch's), and a late Retime
// undoes the deadline of the write before it. A Touch whose outcome is
// unknown costs a store little: the entry lives at least until its old
// deadline, and the next read slides it again.

func (bk *bucket) Touch(ctx context.Context, key string, now int64) (bool, error) {
	return bk.retime(ctx, "Touch", key, now)
}

func (bk *bucket) Retime(ctx context.Context, key string, deadline, idle int64, now int64) (bool, error) {
	if deadline < 0 || idle < 0 {
		// A negative deadline would be stored as an entry Get cannot read.
		return false, bk.failKey("Retime", key, fmt.Errorf("deadline %d or idle time %d is negative", deadline, idle))
	}
	return bk.retime(ctx, "Retime", key, now, deadline, idle)
}

// retime runs retimeScript on key: a Touch without times, a Retime with
// the deadline and idle time.
func (bk *bucket) retime(ctx context.Context, op, key string, now int64, times ...any) (bool, error) {
	if err := bk.check(); err != nil {
		return false, err
	}
	args := append([]any{key, now, bk.be.cfg.reclaim.Milliseconds(), flag(bk.lru)}, times...)
	r, err := bk.runOnce(ctx, retimeScript, bk.tagOf(key), args...)
	if err != nil {
		return false, bk.failKey(op, key, err)
	}
	if err := badEntry(key, r); err != nil {
		return false, err
	}
	switch r {
	case int64(1):
		return true, nil
	case int64(0):
		return false, nil
	}
	return false, bk.failKey(op, key, fmt.Errorf("unexpected reply %v", r))
}
