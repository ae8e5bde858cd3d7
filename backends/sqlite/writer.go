package sqlite

import (
	"context"
	"database/sql"
	"runtime"
	"sync"
)

// writer runs the write transactions of a Backend on its one writer
// connection, with group commit: while one transaction runs, the writes
// that arrive queue, and the next transaction runs all of them and commits
// once. A commit costs about as much for one write as for a hundred (and
// with durability Full it is an fsync), so writers that queue share it
// instead of paying one each.
//
// There is no writer goroutine: the caller that finds the writer free runs
// the transaction itself (so a lone write pays no hand-over to another
// goroutine), and when it is done it hands the writer to the first caller
// that queued meanwhile, whose goroutine then runs the next group.
type writer struct {
	db *sql.DB

	mu    sync.Mutex
	busy  bool       // some caller holds the writer
	queue []*request // waiting for the next group, in arrival order
	// recent is set when a write queues and counts down with the leads
	// that follow: while it is positive, writers have been arriving
	// faster than transactions commit (see do).
	recent int
}

// recentLeads is how many leads after a write queued yield first.
const recentLeads = 8

// maxGroup bounds the writes of one transaction, so that the transaction,
// and the wait of the writes queued behind it, stay short.
const maxGroup = 256

// op is one write: fn runs inside a write transaction.
type op struct {
	fn func(ctx context.Context, t *txn) error
	// first, if set, is tried when the write is alone in its group,
	// outside a transaction: a single statement, which SQLite makes
	// atomic by itself, that either does the whole write (done) or
	// changes nothing. fn then runs only when first was not done, with
	// txn.firstTried set. It saves the BEGIN and COMMIT of a write that
	// needs one statement.
	first func(ctx context.Context, c *sql.Conn) (done bool, err error)
}

// only is the op of a write that is one statement whose failure changes
// nothing: alone, it runs outside a transaction.
func only(fn func(ctx context.Context, t *txn) error) op {
	return op{fn: fn, first: func(ctx context.Context, c *sql.Conn) (bool, error) {
		return true, fn(ctx, &txn{Conn: c})
	}}
}

type reqState uint8

const (
	queued    reqState = iota // in writer.queue
	taken                     // in a group whose transaction has not reached it yet
	started                   // its fn runs or ran: it completes with its group
	finished                  // err is its result
	leading                   // it holds the writer: its own goroutine runs the next group
	cancelled                 // its ctx ended before its fn started: it never runs
)

type request struct {
	ctx     context.Context
	op      op
	state   reqState      // guarded by writer.mu
	wake    chan struct{} // finished or leading; only for requests that queued
	err     error
	dropped int // outbox events the write dropped; to count once committed
}

// do runs o in a write transaction, alone or in a group, and returns when
// the transaction has committed or failed: o's error (an outcome error
// such as ErrConflict leaves what o did committed), or the error of the
// transaction, which then did not happen. dropped is what o reported in
// txn.dropped, for the caller to count now that it is committed.
//
// A write whose ctx ends while it waits returns ctx's error at once and is
// never run. Once its fn has begun it completes with its group, whatever
// its ctx does: the transaction is shared, and interrupting the connection
// would undo the other writes too.
func (w *writer) do(ctx context.Context, o op) (dropped int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := &request{ctx: ctx, op: o}
	w.mu.Lock()
	if !w.busy {
		w.busy = true
		r.state = leading
		yield := w.recent > 0
		if yield {
			w.recent--
		}
		w.mu.Unlock()
		if yield {
			// Others are writing too, and those that are ready to run
			// may be about to queue: let them, so that this group takes
			// them. A lone writer never pays this.
			runtime.Gosched()
		}
	} else {
		r.wake = make(chan struct{}, 1)
		r.state = queued
		w.queue = append(w.queue, r)
		w.recent = recentLeads
		w.mu.Unlock()
		if !w.wait(r) {
			return 0, ctx.Err()
		}
	}
	if r.state == leading {
		w.lead(r)
	}
	return r.dropped, r.err
}

// wait blocks until r is finished or leads. It returns false when r's ctx
// ended before r's fn began: r then never runs.
func (w *writer) wait(r *request) bool {
	select {
	case <-r.wake:
		return true
	case <-r.ctx.Done():
	}
	w.mu.Lock()
	switch r.state {
	case queued, taken, cancelled:
		r.state = cancelled
		w.mu.Unlock()
		return false
	case leading:
		// Handed the writer, but its group has not begun: pass it on.
		w.mu.Unlock()
		w.handoff()
		return false
	}
	w.mu.Unlock()
	<-r.wake
	return true
}

// lead runs a group on the writer connection, r's write first, then the
// next group, of the writes that queued meanwhile, and then hands the
// writer on. Running the second group here, on a goroutine that runs and
// holds the connection, saves waking a parked goroutine for it, which on
// a busy machine can take longer than the group; going on for longer
// would keep r's caller from its next write (with a few writers, that is
// one writer fewer) for the sake of others'.
func (w *writer) lead(r *request) {
	ctx := context.WithoutCancel(r.ctx)
	conn, err := w.db.Conn(ctx)
	if err != nil {
		r.err = err
		w.handoff()
		return
	}
	var one [1]*request
	g := w.take(append(one[:0], r))
	w.run(ctx, conn, g, r)
	if w.finish(g) > 0 {
		// The callers just woken may have their next writes ready: let
		// them run and queue, so that they join the next group rather
		// than wait for the one after it.
		runtime.Gosched()
	}
	if g = w.take(nil); len(g) == 0 {
		conn.Close() // take freed the writer
		return
	}
	w.run(ctx, conn, g, nil)
	conn.Close() // back to the pool, for the next leader
	w.handoff()
	w.finish(g)
}

// take adds the queued requests, up to maxGroup, to group g. When g is
// empty and nothing is queued, it frees the writer, in the same critical
// section, so that a write that queues meanwhile is not left waiting.
func (w *writer) take(g []*request) []*request {
	w.mu.Lock()
	defer w.mu.Unlock()
	rest := w.queue[:0]
	for _, q := range w.queue {
		switch {
		case q.state != queued:
			// cancelled: dropped from the queue
		case len(g) < maxGroup:
			q.state = taken
			g = append(g, q)
		default:
			rest = append(rest, q)
		}
	}
	clear(w.queue[len(rest):])
	w.queue = rest
	if len(g) == 0 {
		w.busy = false
	}
	return g
}

// start marks q's write as begun, unless q's ctx ended first. own is the
// leader's request, which no other goroutine looks at.
func (w *writer) start(q, own *request) bool {
	if q == own {
		if err := q.ctx.Err(); err != nil {
			q.err = err
			return false
		}
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.startLocked(q)
}

func (w *writer) startLocked(q *request) bool {
	if q.state == cancelled || q.ctx.Err() != nil {
		q.state = cancelled
		return false
	}
	q.state = started
	return true
}

// run runs the writes of group g in one transaction on conn: each in its
// own savepoint when there are several (see txn.step), so that a write
// that fails undoes only itself, and one COMMIT for all. A write whose
// error is an outcome (ErrConflict, ErrLimit, ErrLockLost) keeps what it
// did, as when alone. When the transaction cannot begin, cannot go on, or
// does not commit, every write of the group that had not failed by itself
// fails with that error: none of them happened.
// own is the leader's request when it is in g.
func (w *writer) run(ctx context.Context, conn *sql.Conn, g []*request, own *request) {
	firstTried := false
	if len(g) == 1 && g[0].op.first != nil {
		r := g[0]
		if !w.start(r, own) {
			return
		}
		done, err := r.op.first(ctx, conn)
		if done || err != nil {
			r.err = err
			return
		}
		firstTried = true
	}
	// fail gives err to every write of g that has not failed by itself,
	// whether it ran or not.
	fail := func(err error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, q := range g {
			if q == own || q.state == started {
				if q.err == nil || outcome(q.err) {
					q.err = err
				}
			} else if q.state == taken && w.startLocked(q) {
				q.err = err
			}
		}
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		rollback(conn)
		fail(err)
		return
	}
	shared := len(g) > 1
	ran := false
	for i, q := range g {
		if !(i == 0 && firstTried) && !w.start(q, own) {
			continue
		}
		t := txn{Conn: conn, shared: shared, firstTried: i == 0 && firstTried}
		err, abort := t.step(ctx, q.op.fn)
		q.err, q.dropped = err, t.dropped
		if abort != nil || !shared && err != nil && !outcome(err) {
			// The transaction is gone (SQLite rolled it back), or the only
			// write in it failed: nothing of it is kept.
			rollback(conn)
			if abort != nil {
				fail(abort)
			}
			return
		}
		ran = true
	}
	if !ran {
		rollback(conn)
		return
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		rollback(conn)
		fail(err)
	}
}

// finish wakes the requests of group g that wait, now that their results
// are set, and says how many.
func (w *writer) finish(g []*request) int {
	w.mu.Lock()
	n := 0
	for _, q := range g {
		if q.state != cancelled && q.state != leading {
			q.state = finished
			g[n] = q
			n++
		}
	}
	w.mu.Unlock()
	for _, q := range g[:n] {
		q.wake <- struct{}{}
	}
	return n
}

// handoff gives the writer to the first queued request, or frees it.
func (w *writer) handoff() {
	w.mu.Lock()
	for len(w.queue) > 0 {
		q := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		if q.state == queued {
			q.state = leading
			w.mu.Unlock()
			q.wake <- struct{}{}
			return
		}
	}
	w.busy = false
	w.mu.Unlock()
}

// queued counts the requests waiting for a group.
func (w *writer) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, q := range w.queue {
		if q.state == queued {
			n++
		}
	}
	return n
}

// txn is a write's view of the transaction it runs in.
type txn struct {
	*sql.Conn
	// shared says other work in the transaction must survive a failure of
	// this one: other writes of its group, other keys of its batch.
	shared bool
	sp     bool // a savepoint is open for this work (protect)
	// firstTried says op.first ran just before, outside the transaction,
	// and did not finish the write.
	firstTried bool
	// dropped counts the outbox events this work dropped; they are counted
	// in DroppedExpired once the transaction has committed.
	dropped int
}

// protect opens a savepoint for this work when the transaction is shared.
// Work that may fail after it has changed something calls it before its
// first change, so that its failure undoes its own changes and nothing
// else; work that changes nothing before it can fail, or does all in one
// statement (which SQLite undoes by itself when it fails), need not, and
// saves the two statements.
func (t *txn) protect(ctx context.Context) error {
	if !t.shared || t.sp {
		return nil
	}
	if _, err := t.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return err
	}
	t.sp = true
	return nil
}

// step runs fn as one unit of work of t's transaction and returns its
// error. In a shared transaction a failure (not an outcome error) is
// undone, back to fn's savepoint if it took one, and the transaction goes
// on; abort is set when the transaction itself is lost (SQLite rolled it
// back, or the savepoint could not be undone), and then nothing of it can
// be kept. Alone, fn's failure is the caller's to roll back.
func (t *txn) step(ctx context.Context, fn func(ctx context.Context, t *txn) error) (err, abort error) {
	err = fn(ctx, t)
	failed := err != nil && !outcome(err)
	if failed {
		t.dropped = 0
	}
	if !t.shared {
		return err, nil
	}
	if t.sp {
		t.sp = false
		if failed {
			if _, e := t.ExecContext(ctx, "ROLLBACK TO w"); e != nil {
				return err, e
			}
		}
		if _, e := t.ExecContext(ctx, "RELEASE w"); e != nil {
			return err, e
		}
	}
	if failed && !inTx(t.Conn) {
		return err, err
	}
	return err, nil
}

// sub runs fn as a unit of work of its own inside t's (a key of a batch):
// its failure undoes only itself. Its dropped events join t's when it
// does not fail.
func (t *txn) sub(ctx context.Context, fn func(ctx context.Context, t *txn) error) (err, abort error) {
	s := txn{Conn: t.Conn, shared: true}
	err, abort = s.step(ctx, fn)
	t.dropped += s.dropped
	return err, abort
}
