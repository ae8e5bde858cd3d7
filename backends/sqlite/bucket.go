package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/backend"
)

// bucket is one bucket's view of the file. Handles are cheap; the data and
// counters live in the file, the drop count in the Backend.
type bucket struct {
	be        *Backend
	name      string
	limit     backend.Limit
	lru       bool // the bucket evicts least recently used keys: Get stamps access
	retention int
	owner     string // names this handle's claims in the outbox
	dropped   *atomic.Uint64
	closed    atomic.Bool
	// newKeys is set when a Put alone tried updateLive outside a
	// transaction and found no live entry to update, and cleared when
	// updateLive next succeeds. While the bucket's Puts are of new keys,
	// the one-statement attempt would only cost a statement and a lock of
	// its own before the transaction, so they go to the transaction at
	// once and try insertNew first there.
	newKeys atomic.Bool

	// inflight holds the events this handle handed out and has not seen
	// acknowledged, with when (monotonic clock); see ClaimExpired.
	inflightMu sync.Mutex
	inflight   map[int64]time.Time
}

var _ backend.Bucket[string, []byte] = (*bucket)(nil)

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("livedict/sqlite: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// SQL shared by several operations. Parameters are numbered where one is
// used twice.
const (
	// live holds for an entry that has not expired at ?, and for one whose
	// deadline is not an integer (another type, written by something else
	// than this backend): it cannot be judged, so it is read and reported
	// as unreadable rather than taken for expired.
	live = `(deadline = 0 OR deadline > ? OR typeof(deadline) <> 'integer')`
	// deadlineCol reads the deadline, or badDeadline when it is not an
	// integer, so that a scan into int64 does not fail on it.
	deadlineCol = `CASE WHEN typeof(deadline) = 'integer' THEN deadline ELSE -1 END`
	// idleCol is deadlineCol for idle, with badIdle.
	idleCol = `CASE WHEN typeof(idle) = 'integer' THEN idle ELSE -9223372036854775808 END`
	getSQL  = `SELECT value, ` + deadlineCol + `, version, ` + idleCol + ` FROM livedict_entries WHERE bucket = ? AND key = ?`
	getLive = getSQL + ` AND ` + live
	// getMeta is getSQL without the value, for a write that does not
	// report the previous one.
	getMeta = `SELECT ` + deadlineCol + `, version, ` + idleCol + ` FROM livedict_entries WHERE bucket = ? AND key = ?`
	// getTimes reads what Touch and Retime need of a live entry.
	getTimes  = `SELECT ` + deadlineCol + `, ` + idleCol + ` FROM livedict_entries WHERE bucket = ? AND key = ? AND ` + live
	nextSeq   = `INSERT INTO livedict_buckets (bucket, seq) VALUES (?, 1) ON CONFLICT (bucket) DO UPDATE SET seq = seq + 1 RETURNING seq`
	nextFence = `INSERT INTO livedict_buckets (bucket, fence) VALUES (?, 1) ON CONFLICT (bucket) DO UPDATE SET fence = fence + 1 RETURNING fence`
	countLive = `SELECT count(*) FROM livedict_entries WHERE bucket = ? AND ` + live
	// dueSQL selects, in deadline order, the due entries of bucket ?1 at ?2,
	// at most ?3; the partial index serves it. A deadline that is not an
	// integer (a REAL, which sorts among them) is left out: the sweep
	// reports it instead (badDueSQL).
	dueSQL    = ` FROM livedict_entries WHERE bucket = ?1 AND deadline > 0 AND deadline <= ?2 AND typeof(deadline) = 'integer' ORDER BY deadline, key LIMIT ?3`
	badDueSQL = `SELECT key FROM livedict_entries WHERE bucket = ?1 AND deadline > 0 AND deadline <= ?2 AND typeof(deadline) <> 'integer' LIMIT ?3`
)

// badDeadline is what deadlineCol reads for a deadline that is not an
// integer; real deadlines are never negative.
const badDeadline = -1

// badIdle is what idleCol reads for an idle time that is not an integer:
// no write gives it.
const badIdle = math.MinInt64

func unreadable(key string) *backend.CorruptRecord {
	return &backend.CorruptRecord{Key: key, Reason: "deadline is not an integer"}
}

// corrupt returns the error of an entry read with deadlineCol and idleCol
// from a record this backend cannot read, and nil for a readable one.
func corrupt(key string, e backend.Entry[[]byte]) *backend.CorruptRecord {
	switch {
	case e.Deadline == badDeadline:
		return unreadable(key)
	case e.Idle == badIdle:
		return &backend.CorruptRecord{Key: key, Reason: "idle time is not an integer"}
	}
	return nil
}

// check fails when the bucket or its backend is closed.
func (bk *bucket) check() error {
	if bk.closed.Load() || bk.be.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}

// fail gives err the context of the operation; an error caused by a Close
// that raced the operation becomes ErrClosed.
func (bk *bucket) fail(op string, err error) error {
	if bk.check() != nil {
		err = backend.ErrClosed
	}
	return fmt.Errorf("livedict/sqlite: %s in bucket %q: %w", op, bk.name, err)
}

func (bk *bucket) failKey(op, key string, err error) error {
	if bk.check() != nil {
		err = backend.ErrClosed
	}
	return fmt.Errorf("livedict/sqlite: %s of key %q in bucket %q: %w", op, key, bk.name, err)
}

// outcome reports whether err is a result of the operation rather than a
// failure: the transaction still commits what it did before.
func outcome(err error) bool {
	return errors.Is(err, backend.ErrConflict) || errors.Is(err, backend.ErrLimit) || errors.Is(err, backend.ErrLockLost)
}

// update runs o on the writer (see writer): in a write transaction that
// begins with BEGIN IMMEDIATE, which takes the file's write lock at once,
// waiting up to the busy timeout for other processes, and is shared with
// the writes that queued beside it. What o does is committed when it
// returns nil or an outcome error (which update then returns), and undone
// otherwise. Drops o reports in txn.dropped are counted once committed.
func (bk *bucket) update(ctx context.Context, o op) error {
	dropped, err := bk.be.wr.do(ctx, o)
	if dropped > 0 && (err == nil || outcome(err)) {
		bk.dropped.Add(uint64(dropped))
	}
	return err
}

// write is update of a write that has no single-statement form.
func (bk *bucket) write(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	return bk.update(ctx, op{fn: fn})
}

// seq takes the next number of the bucket's counter.
func (bk *bucket) seq(ctx context.Context, tx *sql.Conn) (uint64, error) {
	var n uint64
	err := tx.QueryRowContext(ctx, nextSeq, bk.name).Scan(&n)
	return n, err
}

// genShift splits a version into generation<<genShift + writes since.
const genShift = 20

// stamps returns the version and access stamp of a write over a live entry
// of version prev (0: a new key). The version is prev+1, unless the key is
// new or prev+1 would reach the next generation: then it is a new
// generation of the bucket's counter. Generations only grow, so a key
// never sees a version again, even across a Delete, and rewriting a key
// touches no shared row. The access stamp, which orders EvictLRU, is a
// number of the same counter in an EvictLRU bucket and 0 in others.
func (bk *bucket) stamps(ctx context.Context, tx *sql.Conn, prev uint64) (version, stamp uint64, err error) {
	if prev != 0 && (prev+1)&(1<<genShift-1) != 0 {
		version = prev + 1
	} else {
		if stamp, err = bk.seq(ctx, tx); err != nil {
			return 0, 0, err
		}
		version = stamp << genShift
	}
	if bk.lru && stamp == 0 {
		stamp, err = bk.seq(ctx, tx)
	}
	if !bk.lru {
		stamp = 0
	}
	return version, stamp, err
}

// scanEntry reads value, deadline, version and idle.
func scanEntry(row interface{ Scan(...any) error }) (backend.Entry[[]byte], error) {
	var e backend.Entry[[]byte]
	err := row.Scan(&e.Value, &e.Deadline, &e.Version, &e.Idle)
	if e.Value == nil && err == nil {
		e.Value = []byte{}
	}
	return e, err
}

// nonNil keeps an empty value apart from SQL NULL, which the driver binds
// for a nil slice.
func nonNil(p []byte) []byte {
	if p == nil {
		return []byte{}
	}
	return p
}

func (bk *bucket) Get(ctx context.Context, key string, now int64) (backend.Entry[[]byte], bool, error) {
	if err := bk.check(); err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	if bk.lru {
		return bk.getTouch(ctx, key, now)
	}
	e, err := scanEntry(bk.be.r.QueryRowContext(ctx, getLive, bk.name, key, now))
	if errors.Is(err, sql.ErrNoRows) {
		return backend.Entry[[]byte]{}, false, nil
	}
	if err != nil {
		return backend.Entry[[]byte]{}, false, bk.failKey("Get", key, err)
	}
	if c := corrupt(key, e); c != nil {
		return backend.Entry[[]byte]{}, false, c
	}
	return e, true, nil
}

// getTouch is Get in an EvictLRU bucket: it stamps the entry as used.
func (bk *bucket) getTouch(ctx context.Context, key string, now int64) (backend.Entry[[]byte], bool, error) {
	var e backend.Entry[[]byte]
	found := false
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		var err error
		e, found, err = bk.touchTx(ctx, t, key, now)
		return err
	})
	return bk.getDone(key, e, found, err)
}

// touchTx reads key and stamps it as used, in a transaction.
func (bk *bucket) touchTx(ctx context.Context, t *txn, key string, now int64) (backend.Entry[[]byte], bool, error) {
	e, err := scanEntry(t.QueryRowContext(ctx, getLive, bk.name, key, now))
	if errors.Is(err, sql.ErrNoRows) {
		return backend.Entry[[]byte]{}, false, nil
	}
	if err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	if c := corrupt(key, e); c != nil {
		return backend.Entry[[]byte]{}, false, c
	}
	// No savepoint: if the stamp fails after the counter moved, a number
	// of the counter is skipped, which orders nothing differently.
	stamp, err := bk.seq(ctx, t.Conn)
	if err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	_, err = t.ExecContext(ctx, `UPDATE livedict_entries SET accessed = ? WHERE bucket = ? AND key = ?`, stamp, bk.name, key)
	return e, true, err
}

// getDone gives the result of a Get that read e (found) or failed with err.
func (bk *bucket) getDone(key string, e backend.Entry[[]byte], found bool, err error) (backend.Entry[[]byte], bool, error) {
	var c *backend.CorruptRecord
	if errors.As(err, &c) {
		return backend.Entry[[]byte]{}, false, c
	}
	if err != nil {
		return backend.Entry[[]byte]{}, false, bk.failKey("Get", key, err)
	}
	if !found {
		return backend.Entry[[]byte]{}, false, nil
	}
	return e, true, nil
}

func (bk *bucket) Put(ctx context.Context, key string, w backend.Write[[]byte], now int64) (backend.WriteResult[string, []byte], error) {
	if err := bk.check(); err != nil {
		return backend.WriteResult[string, []byte]{}, err
	}
	var p put
	o := op{fn: func(ctx context.Context, t *txn) error { return bk.putTx(ctx, t, key, w, now, &p) }}
	if bk.inPlace(w) && !bk.newKeys.Load() {
		o.first = func(ctx context.Context, c *sql.Conn) (bool, error) {
			done, err := bk.updateLive(ctx, c, key, w, now)
			if !done && err == nil {
				bk.newKeys.Store(true)
			}
			return done, err
		}
	}
	return bk.putDone(key, &p, bk.update(ctx, o))
}

// put is what one key's Put did in its transaction.
type put struct {
	res       backend.WriteResult[string, []byte]
	displaced int64 // the outbox row of a displaced entry the write claimed
}

// putDone gives the result of a Put whose transaction returned err:
// committed, with or without an outcome error (conflict or limit), what
// the write moved to the outbox stays there, as the result says, and a
// claimed event is in flight like one ClaimExpired handed out.
func (bk *bucket) putDone(key string, p *put, err error) (backend.WriteResult[string, []byte], error) {
	var c *backend.CorruptRecord
	if errors.As(err, &c) {
		return backend.WriteResult[string, []byte]{}, c
	}
	if err != nil && !outcome(err) {
		return backend.WriteResult[string, []byte]{}, bk.failKey("Put", key, err)
	}
	if p.res.Displaced != nil {
		bk.inflightMu.Lock()
		bk.inflight[p.displaced] = time.Now()
		bk.inflightMu.Unlock()
	}
	return p.res, err
}

// inPlace says whether w may first try updateLive: it needs neither the
// previous value nor an access stamp (EvictLRU), and may replace a live
// entry.
func (bk *bucket) inPlace(w backend.Write[[]byte]) bool {
	return !bk.lru && !w.WantPrev && !(w.Conditional && w.IfVersion == 0)
}

// updateLiveSQL rewrites a live entry whose deadline, idle time and
// version are integers and whose next version stays in its generation: everything
// the general path would find out by reading the entry first, checked in
// the statement itself. ?2 keeps the deadline and idle time (KeepTTL),
// ?3 and ?8 are the new ones; ?7, when not 0, is the version the write is
// conditional on.
var updateLiveSQL = `UPDATE livedict_entries SET value = ?1, deadline = CASE WHEN ?2 THEN deadline ELSE ?3 END,
	idle = CASE WHEN ?2 THEN idle ELSE ?8 END, version = version + 1
	WHERE bucket = ?4 AND key = ?5 AND typeof(deadline) = 'integer' AND (deadline = 0 OR deadline > ?6) AND typeof(idle) = 'integer'
	AND typeof(version) = 'integer' AND (version + 1) & ` + strconv.Itoa(1<<genShift-1) + ` <> 0 AND (?7 = 0 OR version = ?7)`

// updateLive is a Put over a live entry in one statement, the common
// case: done reports that it wrote, and when it did not it changed
// nothing (the key is new, expired, unreadable, at the end of its
// generation, or not at the version the write is conditional on), and the
// general path decides.
func (bk *bucket) updateLive(ctx context.Context, c *sql.Conn, key string, w backend.Write[[]byte], now int64) (bool, error) {
	var ifVersion uint64
	if w.Conditional {
		ifVersion = w.IfVersion
	}
	res, err := c.ExecContext(ctx, updateLiveSQL, nonNil(w.Value), w.KeepTTL, w.Deadline, bk.name, key, now, ifVersion, w.Idle)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertNew is a Put of a key that is not there, when no key limit
// applies: it takes a generation and inserts, unless a row is there after
// all (an expired or unreadable one, which the general path deals with).
// Then it gives the generation back, so that the counter, and the versions
// of later keys, are what the general path alone would have made of them:
// a batch leaves the file as the same Puts one at a time do. (Inside the
// write transaction no other writer can have taken a number meanwhile.)
// No savepoint: an insert that fails leaves its generation taken, in a
// shared transaction, which is no harm, as generations only need to grow.
func (bk *bucket) insertNew(ctx context.Context, c *sql.Conn, key string, w backend.Write[[]byte]) (bool, error) {
	gen, err := bk.seq(ctx, c)
	if err != nil {
		return false, err
	}
	res, err := c.ExecContext(ctx, `INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed, idle) VALUES (?, ?, ?, ?, ?, 0, ?)
		ON CONFLICT (bucket, key) DO NOTHING`, bk.name, key, nonNil(w.Value), w.Deadline, gen<<genShift, w.Idle)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err == nil, err
	}
	_, err = c.ExecContext(ctx, `UPDATE livedict_buckets SET seq = seq - 1 WHERE bucket = ?`, bk.name)
	return false, err
}

// putTx is one key's Put inside a transaction, with the result in p. It
// tries the one-statement forms first (updateLive, unless it was just
// tried outside the transaction, and insertNew), and otherwise reads the
// entry and decides: expired entries go to the outbox, the key limit is
// enforced, unreadable records are replaced or refused.
func (bk *bucket) putTx(ctx context.Context, t *txn, key string, w backend.Write[[]byte], now int64, p *put) error {
	*p = put{}
	update := bk.inPlace(w) && !t.firstTried
	insert := !bk.lru && bk.limit.MaxKeys == 0 && !w.WantPrev && (!w.Conditional || w.IfVersion == 0)
	if insert && bk.newKeys.Load() {
		// New keys are what the bucket gets lately: try that first.
		if done, err := bk.insertNew(ctx, t.Conn, key, w); done || err != nil {
			return err
		}
		insert = false
	}
	if update {
		if done, err := bk.updateLive(ctx, t.Conn, key, w, now); done || err != nil {
			if done && bk.newKeys.Load() {
				bk.newKeys.Store(false)
			}
			return err
		}
	}
	if insert {
		if done, err := bk.insertNew(ctx, t.Conn, key, w); done || err != nil {
			return err
		}
	}
	res := &p.res
	var cur backend.Entry[[]byte]
	var err error
	if w.WantPrev {
		cur, err = scanEntry(t.QueryRowContext(ctx, getSQL, bk.name, key))
	} else {
		err = t.QueryRowContext(ctx, getMeta, bk.name, key).Scan(&cur.Deadline, &cur.Version, &cur.Idle)
	}
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	// A record whose deadline or idle time cannot be read is replaced,
	// unless the write needs it.
	var bad *backend.CorruptRecord
	if exists {
		bad = corrupt(key, cur)
	}
	replacing := bad != nil
	if replacing {
		if w.KeepTTL || w.Conditional {
			return bad
		}
		res.Replaced = bad
	}
	if exists && !replacing && !cur.Live(now) {
		// An expiry the sweep has not reached yet: report it before the
		// key is reused, so a Set never swallows an expiry.
		if err := t.protect(ctx); err != nil {
			return err
		}
		if w.ClaimDisplaced > 0 {
			if res.Displaced, err = bk.claimDisplaced(ctx, t.Conn, key, now, w.ClaimDisplaced); err != nil {
				return err
			}
			p.displaced, _ = strconv.ParseInt(res.Displaced.ID, 10, 64)
		} else {
			if err := bk.moveToOutbox(ctx, t.Conn, key); err != nil {
				return err
			}
			if err := bk.trimOutbox(ctx, t.Conn, now, &t.dropped); err != nil {
				return err
			}
		}
		res.ExpiredMoved, exists = true, false
	}
	if w.Conditional {
		v := uint64(0)
		if exists {
			v = cur.Version
		}
		if v != w.IfVersion {
			return backend.ErrConflict
		}
	}
	if err := t.protect(ctx); err != nil {
		return err
	}
	if !exists && bk.limit.MaxKeys > 0 {
		if res.Evicted, err = bk.makeRoom(ctx, t.Conn, now); err != nil {
			return err
		}
	}
	var prev uint64
	if exists {
		prev = cur.Version
	}
	version, stamp, err := bk.stamps(ctx, t.Conn, prev)
	if err != nil {
		return err
	}
	if exists {
		if w.WantPrev && !replacing {
			res.Prev, res.Existed = cur, true
		}
		deadline, idle := w.Deadline, w.Idle
		if w.KeepTTL {
			deadline, idle = cur.Deadline, cur.Idle
		}
		_, err = t.ExecContext(ctx, `UPDATE livedict_entries SET value = ?, deadline = ?, idle = ?, version = ?, accessed = max(accessed, ?) WHERE bucket = ? AND key = ?`,
			nonNil(w.Value), deadline, idle, version, stamp, bk.name, key)
		return err
	}
	_, err = t.ExecContext(ctx, `INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed, idle) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		bk.name, key, nonNil(w.Value), w.Deadline, version, stamp, w.Idle)
	return err
}

// makeRoom enforces the key limit for a new key: it fails with ErrLimit or
// evicts the least recently used live entries.
func (bk *bucket) makeRoom(ctx context.Context, tx *sql.Conn, now int64) ([]backend.KV[string, []byte], error) {
	var n int
	if err := tx.QueryRowContext(ctx, countLive, bk.name, now).Scan(&n); err != nil {
		return nil, err
	}
	if n < bk.limit.MaxKeys {
		return nil, nil
	}
	if !bk.lru {
		return nil, fmt.Errorf("%w: bucket %q holds %d keys", backend.ErrLimit, bk.name, bk.limit.MaxKeys)
	}
	rows, err := tx.QueryContext(ctx, `SELECT key, value, deadline, version, idle FROM livedict_entries WHERE bucket = ? AND `+live+` ORDER BY accessed LIMIT ?`,
		bk.name, now, n-bk.limit.MaxKeys+1)
	if err != nil {
		return nil, err
	}
	var victims []backend.KV[string, []byte]
	for rows.Next() {
		var kv backend.KV[string, []byte]
		if err := rows.Scan(&kv.Key, &kv.Entry.Value, &kv.Entry.Deadline, &kv.Entry.Version, &kv.Entry.Idle); err != nil {
			rows.Close()
			return nil, err
		}
		kv.Entry.Value = nonNil(kv.Entry.Value)
		victims = append(victims, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, v := range victims {
		if _, err := tx.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ? AND key = ?`, bk.name, v.Key); err != nil {
			return nil, err
		}
	}
	return victims, nil
}

// moveToOutbox moves one expired entry to the outbox, unclaimed.
func (bk *bucket) moveToOutbox(ctx context.Context, tx *sql.Conn, key string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO livedict_outbox (bucket, key, value, deadline)
		SELECT bucket, key, value, deadline FROM livedict_entries WHERE bucket = ? AND key = ?`, bk.name, key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ? AND key = ?`, bk.name, key)
	return err
}

// claimDisplaced moves one expired entry to the outbox already claimed by
// this handle until now+lease, as ClaimExpired would have claimed it, and
// returns its event. Claimed events do not count against the retention, so
// there is nothing to trim.
func (bk *bucket) claimDisplaced(ctx context.Context, tx *sql.Conn, key string, now int64, lease time.Duration) (*backend.Expired[string, []byte], error) {
	ev := &backend.Expired[string, []byte]{Key: key}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO livedict_outbox (bucket, key, value, deadline, owner, claimed_until)
		SELECT bucket, key, value, deadline, ?, ? FROM livedict_entries WHERE bucket = ? AND key = ?
		RETURNING id, value, deadline`,
		bk.owner, now+lease.Milliseconds(), bk.name, key).Scan(&id, &ev.Value, &ev.Deadline)
	if err != nil {
		return nil, err
	}
	ev.ID, ev.Value = strconv.FormatInt(id, 10), nonNil(ev.Value)
	if _, err := tx.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ? AND key = ?`, bk.name, key); err != nil {
		return nil, err
	}
	return ev, nil
}

// trimOutbox deletes the oldest unclaimed events beyond the retention and
// adds how many to *dropped. Events a store has claimed are being
// delivered: the retention bounds those that wait for a listener.
func (bk *bucket) trimOutbox(ctx context.Context, tx *sql.Conn, now int64, dropped *int) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM livedict_outbox WHERE bucket = ? AND claimed_until <= ?`, bk.name, now).Scan(&n); err != nil {
		return err
	}
	if n <= bk.retention {
		return nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM livedict_outbox WHERE id IN (
		SELECT id FROM livedict_outbox WHERE bucket = ? AND claimed_until <= ? ORDER BY id LIMIT ?)`,
		bk.name, now, n-bk.retention)
	if err != nil {
		return err
	}
	d, err := res.RowsAffected()
	*dropped += int(d)
	return err
}

func (bk *bucket) Delete(ctx context.Context, key string, now int64) (backend.Entry[[]byte], bool, error) {
	if err := bk.check(); err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	var e backend.Entry[[]byte]
	found := false
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		var err error
		e, found, err = bk.deleteTx(ctx, t, key, now)
		return err
	})
	return bk.deleteDone(key, e, found, err)
}

// deleteTx deletes the live entry of key in a transaction and returns it.
func (bk *bucket) deleteTx(ctx context.Context, t *txn, key string, now int64) (backend.Entry[[]byte], bool, error) {
	// One statement, but the row is gone before its values are scanned,
	// and a scan that fails must not leave it gone.
	if err := t.protect(ctx); err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	e, err := scanEntry(t.QueryRowContext(ctx,
		`DELETE FROM livedict_entries WHERE bucket = ? AND key = ? AND `+live+` RETURNING value, `+deadlineCol+`, version, `+idleCol, bk.name, key, now))
	if errors.Is(err, sql.ErrNoRows) {
		return backend.Entry[[]byte]{}, false, nil
	}
	return e, err == nil, err
}

// deleteDone gives the result of a Delete that removed e (found) or failed
// with err.
func (bk *bucket) deleteDone(key string, e backend.Entry[[]byte], found bool, err error) (backend.Entry[[]byte], bool, error) {
	if err != nil {
		return backend.Entry[[]byte]{}, false, bk.failKey("Delete", key, err)
	}
	if c := corrupt(key, e); found && c != nil {
		return backend.Entry[[]byte]{}, true, c
	}
	return e, found, nil
}

func (bk *bucket) DeleteIf(ctx context.Context, key string, version uint64, now int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	err := bk.update(ctx, only(func(ctx context.Context, t *txn) error {
		res, err := t.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ? AND key = ? AND version = ? AND `+live,
			bk.name, key, version, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, backend.ErrConflict)
		}
		return nil
	}))
	if errors.Is(err, backend.ErrConflict) {
		return backend.ErrConflict
	}
	if err != nil {
		return bk.failKey("DeleteIf", key, err)
	}
	return nil
}

func (bk *bucket) Len(ctx context.Context, now int64) (int, error) {
	if err := bk.check(); err != nil {
		return 0, err
	}
	var n int
	if err := bk.be.r.QueryRowContext(ctx, countLive, bk.name, now).Scan(&n); err != nil {
		return 0, bk.fail("Len", err)
	}
	return n, nil
}

// rangePage is how many entries Range reads per query.
const rangePage = 256

// Range reads the bucket in pages, in key order, and calls fn between
// queries, holding no connection or transaction while fn runs.
func (bk *bucket) Range(ctx context.Context, now int64, fn func(string, backend.Entry[[]byte]) bool) error {
	if err := bk.check(); err != nil {
		return err
	}
	const cols = `SELECT key, value, ` + deadlineCol + `, version, ` + idleCol + ` FROM livedict_entries WHERE bucket = ? AND `
	// Entries whose deadline or idle time cannot be read are returned
	// after the others, joined (*backend.CorruptRecord).
	var bad []error
	page := make([]backend.KV[string, []byte], 0, rangePage)
	first := true
	var after string
	for {
		var rows *sql.Rows
		var err error
		if first {
			rows, err = bk.be.r.QueryContext(ctx, cols+live+` ORDER BY key LIMIT ?`, bk.name, now, rangePage)
		} else {
			rows, err = bk.be.r.QueryContext(ctx, cols+`key > ? AND `+live+` ORDER BY key LIMIT ?`, bk.name, after, now, rangePage)
		}
		if err != nil {
			return bk.fail("Range", err)
		}
		page = page[:0]
		for rows.Next() {
			var kv backend.KV[string, []byte]
			if err := rows.Scan(&kv.Key, &kv.Entry.Value, &kv.Entry.Deadline, &kv.Entry.Version, &kv.Entry.Idle); err != nil {
				rows.Close()
				return bk.fail("Range", err)
			}
			kv.Entry.Value = nonNil(kv.Entry.Value)
			page = append(page, kv)
		}
		if err := rows.Err(); err != nil {
			return bk.fail("Range", err)
		}
		for _, kv := range page {
			if c := corrupt(kv.Key, kv.Entry); c != nil {
				bad = append(bad, c)
				continue
			}
			if !fn(kv.Key, kv.Entry) {
				return errors.Join(bad...)
			}
		}
		if len(page) < rangePage {
			return errors.Join(bad...)
		}
		first, after = false, page[len(page)-1].Key
		if err := ctx.Err(); err != nil {
			return bk.fail("Range", err)
		}
	}
}

func (bk *bucket) Clear(ctx context.Context, _ int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		// Expired entries go without an event, and so do the events no
		// consumer claimed yet (owner is set by the first claim, and on
		// the rows a write inserts claimed).
		if err := t.protect(ctx); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ?`, bk.name); err != nil {
			return err
		}
		_, err := t.ExecContext(ctx, `DELETE FROM livedict_outbox WHERE bucket = ? AND owner IS NULL`, bk.name)
		return err
	})
	if err != nil {
		return bk.fail("Clear", err)
	}
	return nil
}

func (bk *bucket) NextDeadline(ctx context.Context) (int64, bool, error) {
	if err := bk.check(); err != nil {
		return 0, false, err
	}
	// A deadline that is not an integer is no deadline: the sweep does not
	// move it, so waking for it would only spin.
	var d int64
	err := bk.be.r.QueryRowContext(ctx, `SELECT deadline FROM livedict_entries WHERE bucket = ? AND deadline > 0 AND typeof(deadline) = 'integer'
		ORDER BY deadline LIMIT 1`, bk.name).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, bk.fail("NextDeadline", err)
	}
	return d, true, nil
}

// exists runs an EXISTS query on a reader: the sweep and the claim look
// there first, so an idle poll takes no write lock.
func (bk *bucket) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var ok bool
	err := bk.be.r.QueryRowContext(ctx, `SELECT EXISTS (`+query+`)`, args...).Scan(&ok)
	return ok, err
}

func (bk *bucket) SweepExpired(ctx context.Context, now int64, max int) (int, error) {
	if err := bk.check(); err != nil {
		return 0, err
	}
	if max <= 0 {
		return 0, nil
	}
	// Due entries whose deadline is not an integer are skipped, left in
	// place and reported, on every sweep while they are there.
	bad, err := bk.badDue(ctx, now, max)
	if err != nil {
		return 0, bk.fail("SweepExpired", err)
	}
	due, err := bk.exists(ctx, `SELECT 1`+dueSQL, bk.name, now, 1)
	if err != nil || !due {
		if err != nil {
			return 0, bk.fail("SweepExpired", err)
		}
		return 0, bad
	}
	moved := 0
	err = bk.write(ctx, func(ctx context.Context, t *txn) error {
		// The same deterministic selection twice in one transaction: copy,
		// then delete.
		if err := t.protect(ctx); err != nil {
			return err
		}
		res, err := t.ExecContext(ctx, `INSERT INTO livedict_outbox (bucket, key, value, deadline) SELECT bucket, key, value, deadline`+dueSQL,
			bk.name, now, max)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		res, err = t.ExecContext(ctx, `DELETE FROM livedict_entries WHERE bucket = ?1 AND key IN (SELECT key`+dueSQL+`)`,
			bk.name, now, max)
		if err != nil {
			return err
		}
		if d, err := res.RowsAffected(); err != nil || d != n {
			return errors.Join(err, fmt.Errorf("moved %d entries to the outbox but deleted %d", n, d))
		}
		moved = int(n)
		return bk.trimOutbox(ctx, t.Conn, now, &t.dropped)
	})
	if err != nil {
		return 0, bk.fail("SweepExpired", err)
	}
	return moved, bad
}

// badDue returns the due entries whose deadline is not an integer, as
// joined *backend.CorruptRecord errors.
func (bk *bucket) badDue(ctx context.Context, now int64, max int) (error, error) {
	rows, err := bk.be.r.QueryContext(ctx, badDueSQL, bk.name, now, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bad []error
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		bad = append(bad, unreadable(k))
	}
	return errors.Join(bad...), rows.Err()
}

// ClaimExpired claims, in one UPDATE ... RETURNING, the oldest events that
// nobody claimed or whose claim lease ended at now. It does not hand back
// an event this handle handed out and has not seen acknowledged, until the
// lease has also passed on this process's monotonic clock: a clock that
// jumps ahead of the lease while the hooks run (a wall clock stepped
// forward, a fake clock in tests) then does not make the store deliver an
// event twice. Other processes go by the lease in the file alone.
func (bk *bucket) ClaimExpired(ctx context.Context, now int64, max int, lease time.Duration) ([]backend.Expired[string, []byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	skip := bk.inflightIDs(lease)
	const claimable = ` FROM livedict_outbox WHERE bucket = ?1 AND claimed_until <= ?2 AND id NOT IN (SELECT value FROM json_each(?3))`
	ok, err := bk.exists(ctx, `SELECT 1`+claimable, bk.name, now, skip)
	if err != nil || !ok {
		if err != nil {
			err = bk.fail("ClaimExpired", err)
		}
		return nil, err
	}
	var out []backend.Expired[string, []byte]
	err = bk.write(ctx, func(ctx context.Context, t *txn) error {
		out = out[:0]
		// The rows are claimed before they are scanned.
		if err := t.protect(ctx); err != nil {
			return err
		}
		rows, err := t.QueryContext(ctx, `UPDATE livedict_outbox SET owner = ?5, claimed_until = ?6
			WHERE id IN (SELECT id`+claimable+` ORDER BY id LIMIT ?4)
			RETURNING id, key, value, deadline`,
			bk.name, now, skip, max, bk.owner, now+lease.Milliseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var ev backend.Expired[string, []byte]
			if err := rows.Scan(&id, &ev.Key, &ev.Value, &ev.Deadline); err != nil {
				return err
			}
			ev.ID, ev.Value = strconv.FormatInt(id, 10), nonNil(ev.Value)
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, bk.fail("ClaimExpired", err)
	}
	// RETURNING gives no order; events of one key must go out in order.
	slices.SortFunc(out, func(a, b backend.Expired[string, []byte]) int {
		return compareIDs(a.ID, b.ID)
	})
	bk.inflightMu.Lock()
	at := time.Now()
	for _, ev := range out {
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		bk.inflight[id] = at
	}
	bk.inflightMu.Unlock()
	return out, nil
}

// inflightIDs forgets the events handed out longer than lease ago and
// returns the others as a JSON array, for json_each.
func (bk *bucket) inflightIDs(lease time.Duration) string {
	bk.inflightMu.Lock()
	defer bk.inflightMu.Unlock()
	b := []byte{'['}
	for id, at := range bk.inflight {
		if time.Since(at) >= lease {
			delete(bk.inflight, id)
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// eventIDs parses outbox event IDs, for op.
func (bk *bucket) eventIDs(op string, ids []string) ([]int64, error) {
	nums := make([]int64, len(ids))
	for i, id := range ids {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, bk.fail(op, fmt.Errorf("event id %q is not one of this backend's", id))
		}
		nums[i] = n
	}
	return nums, nil
}

func (bk *bucket) AckExpired(ctx context.Context, ids []string) error {
	if err := bk.check(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	nums, err := bk.eventIDs("AckExpired", ids)
	if err != nil {
		return err
	}
	list, _ := json.Marshal(nums)
	err = bk.update(ctx, only(func(ctx context.Context, t *txn) error {
		_, err := t.ExecContext(ctx, `DELETE FROM livedict_outbox WHERE bucket = ? AND id IN (SELECT value FROM json_each(?))`, bk.name, string(list))
		return err
	}))
	if err != nil {
		return bk.fail("AckExpired", err)
	}
	bk.inflightMu.Lock()
	for _, id := range nums {
		delete(bk.inflight, id)
	}
	bk.inflightMu.Unlock()
	return nil
}

// ExtendClaims moves claimed_until of the events this handle still owns;
// the in-flight times move too, so that the handle keeps skipping them.
func (bk *bucket) ExtendClaims(ctx context.Context, ids []string, lease time.Duration, now int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	nums, err := bk.eventIDs("ExtendClaims", ids)
	if err != nil {
		return err
	}
	list, _ := json.Marshal(nums)
	err = bk.update(ctx, only(func(ctx context.Context, t *txn) error {
		_, err := t.ExecContext(ctx, `UPDATE livedict_outbox SET claimed_until = ?1
			WHERE bucket = ?2 AND owner = ?3 AND id IN (SELECT value FROM json_each(?4))`,
			now+lease.Milliseconds(), bk.name, bk.owner, string(list))
		return err
	}))
	if err != nil {
		return bk.fail("ExtendClaims", err)
	}
	at := time.Now()
	bk.inflightMu.Lock()
	for _, id := range nums {
		if _, ok := bk.inflight[id]; ok {
			bk.inflight[id] = at
		}
	}
	bk.inflightMu.Unlock()
	return nil
}

func (bk *bucket) DroppedExpired() uint64 { return bk.dropped.Load() }

func (bk *bucket) TryLock(ctx context.Context, key string, owner string, lease time.Duration, now int64) (uint64, bool, int64, error) {
	if err := bk.check(); err != nil {
		return 0, false, 0, err
	}
	var fence uint64
	var heldUntil int64
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		fence = 0
		err := t.QueryRowContext(ctx, `SELECT until FROM livedict_locks WHERE bucket = ? AND key = ?`, bk.name, key).Scan(&heldUntil)
		if err == nil && heldUntil > now {
			return nil
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		heldUntil = 0
		if err := t.protect(ctx); err != nil {
			return err
		}
		if err := t.QueryRowContext(ctx, nextFence, bk.name).Scan(&fence); err != nil {
			return err
		}
		_, err = t.ExecContext(ctx, `INSERT INTO livedict_locks (bucket, key, owner, until) VALUES (?, ?, ?, ?)
			ON CONFLICT (bucket, key) DO UPDATE SET owner = excluded.owner, until = excluded.until`,
			bk.name, key, owner, now+lease.Milliseconds())
		return err
	})
	if err != nil {
		return 0, false, 0, bk.failKey("TryLock", key, err)
	}
	if fence == 0 {
		return 0, false, heldUntil, nil
	}
	return fence, true, 0, nil
}

func (bk *bucket) Unlock(ctx context.Context, key string, owner string, now int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		// The entry goes either way: a lease that ran out frees its row too.
		if err := t.protect(ctx); err != nil {
			return err
		}
		var until int64
		err := t.QueryRowContext(ctx, `DELETE FROM livedict_locks WHERE bucket = ? AND key = ? AND owner = ? RETURNING until`,
			bk.name, key, owner).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) || err == nil && until <= now {
			return backend.ErrLockLost
		}
		return err
	})
	if err != nil {
		return bk.failKey("Unlock", key, err)
	}
	return nil
}

func (bk *bucket) ExtendLock(ctx context.Context, key string, owner string, lease time.Duration, now int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	err := bk.update(ctx, only(func(ctx context.Context, t *txn) error {
		res, err := t.ExecContext(ctx, `UPDATE livedict_locks SET until = ? WHERE bucket = ? AND key = ? AND owner = ? AND until > ?`,
			now+lease.Milliseconds(), bk.name, key, owner, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, backend.ErrLockLost)
		}
		return nil
	}))
	if err != nil {
		return bk.failKey("ExtendLock", key, err)
	}
	return nil
}

// Close ends this handle; the data stays in the file and the backend stays
// open.
func (bk *bucket) Close() error {
	bk.closed.Store(true)
	return nil
}
