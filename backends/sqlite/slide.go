package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/livedict/livedict/backend"
)

// Touch and Retime change the deadline and idle time of a live entry in
// place and leave its version alone: a touch is how a read slides, and a
// read must not make an Update that read the key before it conflict.

const (
	// slideSQL is Touch of bucket ?2, key ?3 at ?1 (backend.Slide, in the
	// WHERE clause): only a row it would change matches, so a touch that
	// has nothing to do writes no page. Records this backend cannot read
	// do not match: Touch reports them and changes nothing. Nor does an
	// entry whose now+idle overflows: SQLite would make the sum a REAL, an
	// unreadable deadline; in Go (backend.Slide) it wraps below the deadline, so
	// nothing slides there either.
	slideSQL = `UPDATE livedict_entries SET deadline = ?1 + idle
	WHERE bucket = ?2 AND key = ?3 AND typeof(deadline) = 'integer' AND typeof(idle) = 'integer'
	AND (deadline = 0 OR deadline > ?1) AND idle > 0 AND idle <= 9223372036854775807 - ?1 AND ?1 + idle > deadline`
	// retimeSQL is Retime of bucket ?3, key ?4 at ?5 to deadline ?1, idle ?2.
	retimeSQL = `UPDATE livedict_entries SET deadline = ?1, idle = ?2
	WHERE bucket = ?3 AND key = ?4 AND typeof(deadline) = 'integer' AND typeof(idle) = 'integer'
	AND (deadline = 0 OR deadline > ?5)`
)

// retiming is Touch or Retime: update, run with args, is its statement,
// and change is the same rule in Go, for an entry read. The statement
// must match exactly the live, readable entries for which change reports
// a change: retimeLive tells from a row the statement did not match
// whether it needed none.
type retiming struct {
	op     string
	update string
	args   []any
	change func(deadline, idle int64) (int64, int64, bool)
}

func (bk *bucket) Touch(ctx context.Context, key string, now int64) (bool, error) {
	return bk.retime(ctx, key, now, retiming{
		op:     "Touch",
		update: slideSQL,
		args:   []any{now, bk.name, key},
		change: func(deadline, idle int64) (int64, int64, bool) { return backend.Slide(deadline, idle, now) },
	})
}

func (bk *bucket) Retime(ctx context.Context, key string, deadline, idle int64, now int64) (bool, error) {
	return bk.retime(ctx, key, now, retiming{
		op:     "Retime",
		update: retimeSQL,
		args:   []any{deadline, idle, bk.name, key, now},
		change: func(int64, int64) (int64, int64, bool) { return deadline, idle, true },
	})
}

// errRetimeRace is what a transaction's Touch or Retime returns if it
// reads an entry its own UPDATE should have changed. Under the write
// lock nothing can change the row between the two statements, so it
// means the SQL and Go forms of the change disagree.
var errRetimeRace = errors.New("the entry matched the read but not the update")

// retime runs r on key through the writer, as every write does. Outside
// an EvictLRU bucket it is r.update alone in the common case, outside a
// transaction when the writer is free; in an EvictLRU bucket it also
// stamps the entry as used, as Get does there: a touch stands for a read
// (it is how a read slides), and every other use of a key orders LRU.
func (bk *bucket) retime(ctx context.Context, key string, now int64, r retiming) (bool, error) {
	if err := bk.check(); err != nil {
		return false, err
	}
	var live bool
	var o op
	if bk.lru {
		o.fn = func(ctx context.Context, t *txn) error {
			var err error
			live, err = bk.retimeUsed(ctx, t, key, now, r.change)
			return err
		}
	} else {
		o.fn = func(ctx context.Context, t *txn) error {
			var again bool
			var err error
			if live, again, err = bk.retimeLive(ctx, t.Conn, key, now, r); again {
				return errRetimeRace
			}
			return err
		}
		o.first = func(ctx context.Context, c *sql.Conn) (bool, error) {
			var again bool
			var err error
			live, again, err = bk.retimeLive(ctx, c, key, now, r)
			return !again, err
		}
	}
	err := bk.update(ctx, o)
	var c *backend.CorruptRecord
	if errors.As(err, &c) {
		return false, c
	}
	if err != nil {
		return false, bk.failKey(r.op, key, err)
	}
	return live, nil
}

// retimeLive is r outside an EvictLRU bucket, on conn: r.update, and only
// when it changed no row, a read that tells a live entry that needed no
// change (live) from no live entry and from a record this backend cannot
// read (its CorruptRecord). Outside a transaction another process may
// write the key between the two statements; when the read finds an entry
// the update should have changed, nothing was done, and again asks for
// the write to run in a transaction, where the two see the same row.
func (bk *bucket) retimeLive(ctx context.Context, conn *sql.Conn, key string, now int64, r retiming) (live, again bool, err error) {
	res, err := conn.ExecContext(ctx, r.update, r.args...)
	if err != nil {
		return false, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err == nil, false, err
	}
	var e backend.Entry[[]byte]
	err = conn.QueryRowContext(ctx, getTimes, bk.name, key, now).Scan(&e.Deadline, &e.Idle)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if c := corrupt(key, e); c != nil {
		return false, false, c
	}
	_, _, changes := r.change(e.Deadline, e.Idle)
	return !changes, changes, nil
}

// retimeUsed is r in an EvictLRU bucket, in a transaction: the entry gets
// an access stamp whether or not its times change, so it is read first,
// and then written once with its times and stamp.
func (bk *bucket) retimeUsed(ctx context.Context, t *txn, key string, now int64, change func(deadline, idle int64) (int64, int64, bool)) (bool, error) {
	var e backend.Entry[[]byte]
	err := t.QueryRowContext(ctx, getTimes, bk.name, key, now).Scan(&e.Deadline, &e.Idle)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c := corrupt(key, e); c != nil {
		return false, c
	}
	// No savepoint, as in touchTx: a stamp that fails after the counter
	// moved skips a number of the counter, which orders nothing
	// differently.
	stamp, err := bk.seq(ctx, t.Conn)
	if err != nil {
		return false, err
	}
	deadline, idle, _ := change(e.Deadline, e.Idle)
	_, err = t.ExecContext(ctx, `UPDATE livedict_entries SET deadline = ?, idle = ?, accessed = ? WHERE bucket = ? AND key = ?`,
		deadline, idle, stamp, bk.name, key)
	return err == nil, err
}
