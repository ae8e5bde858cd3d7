package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
)

// TestGroupCommitConcurrent writes from many goroutines at once: the
// writes that queue behind a transaction commit together, and every one
// of them is there afterwards, with every key's last value.
func TestGroupCommitConcurrent(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	const writers, each = 32, 40
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Half new keys, half rewrites of a key shared by all.
				key := fmt.Sprintf("k%d-%d", g, i)
				if i%2 == 1 {
					key = fmt.Sprintf("shared%d", i%4)
				}
				if _, err := raw.Put(bg, key, backend.Write[[]byte]{Value: []byte(key)}, now); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for g := range writers {
		for i := 0; i < each; i += 2 {
			key := fmt.Sprintf("k%d-%d", g, i)
			e, ok, err := raw.Get(bg, key, now)
			if err != nil || !ok || string(e.Value) != key {
				t.Fatalf("Get(%s) = %q, %v, %v", key, e.Value, ok, err)
			}
		}
	}
	if n, err := raw.Len(bg, now); err != nil || n != writers*each/2+2 {
		t.Fatalf("Len = %d, %v; want %d", n, err, writers*each/2+2)
	}
}

// queue issues fn from a goroutine and waits until it queues on b's
// writer (held by the test); the returned channel gives its error.
func queue(t *testing.T, b *sqlite.Backend, fn func() error) <-chan error {
	t.Helper()
	before := sqlite.QueuedWrites(b)
	done := make(chan error, 1)
	go func() { done <- fn() }()
	for sqlite.QueuedWrites(b) == before {
		select {
		case err := <-done:
			t.Fatalf("the write did not queue: it returned %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	return done
}

// TestGroupOutcomesAreTheirOwn runs one group in which writes fail, with
// an outcome error that still commits what the write moved, and with
// errors that undo the write: each of them gets its own result, and the
// others of the group commit.
func TestGroupOutcomesAreTheirOwn(t *testing.T) {
	b := openTemp(t)
	now := int64(1_000_000)
	full := rawBucket(t, b, backend.BucketConfig{Name: "full", Limit: backend.Limit{MaxKeys: 1, Policy: backend.RejectNew}})
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	put := func(bk backend.Bucket[string, []byte], key string, w backend.Write[[]byte], at int64) backend.WriteResult[string, []byte] {
		t.Helper()
		res, err := bk.Put(bg, key, w, at)
		if err != nil {
			t.Fatalf("Put(%s): %v", key, err)
		}
		return res
	}
	put(full, "only", backend.Write[[]byte]{Value: []byte("x")}, now)
	put(raw, "versioned", backend.Write[[]byte]{Value: []byte("v1")}, now)
	put(raw, "expired", backend.Write[[]byte]{Value: []byte("old"), Deadline: now + 10}, now)
	put(raw, "corrupt", backend.Write[[]byte]{Value: []byte("c")}, now)
	damage(t, b, "g", "corrupt", conformance.FaultDeadline)
	put(raw, "poison", backend.Write[[]byte]{Value: []byte("p"), Deadline: now + 10}, now)
	// A trigger of the test's own makes the move of this expired entry to
	// the outbox fail half way: its outbox row is written, then its delete
	// is refused (an error that ends the statement, not the transaction).
	db := plainDB(t, b.Path())
	if _, err := db.Exec(`CREATE TRIGGER poison BEFORE DELETE ON livedict_entries WHEN OLD.key = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	later := now + 100

	release := sqlite.HoldWriter(b)
	results := map[string]<-chan error{}
	write := func(name string, bk backend.Bucket[string, []byte], key string, w backend.Write[[]byte]) {
		results[name] = queue(t, b, func() error {
			res, err := bk.Put(bg, key, w, later)
			if name == "conflict-moved" && !res.ExpiredMoved {
				return fmt.Errorf("ExpiredMoved is false (err %v)", err)
			}
			return err
		})
	}
	write("ok-1", raw, "a", backend.Write[[]byte]{Value: []byte("a")})
	write("limit", full, "second", backend.Write[[]byte]{Value: []byte("y")})
	write("conflict", raw, "versioned", backend.Write[[]byte]{Value: []byte("v2"), Conditional: true, IfVersion: 12345})
	write("conflict-moved", raw, "expired", backend.Write[[]byte]{Value: []byte("new"), Conditional: true, IfVersion: 12345})
	write("corrupt", raw, "corrupt", backend.Write[[]byte]{Value: []byte("c2"), KeepTTL: true})
	write("poison", raw, "poison", backend.Write[[]byte]{Value: []byte("p2")})
	write("ok-2", raw, "b", backend.Write[[]byte]{Value: []byte("b")})
	release()

	want := map[string]error{"ok-1": nil, "ok-2": nil, "limit": backend.ErrLimit, "conflict": backend.ErrConflict,
		"conflict-moved": backend.ErrConflict, "corrupt": backend.ErrCorrupt}
	for name, ch := range results {
		err := <-ch
		if name == "poison" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("poisoned")) {
				t.Errorf("%s: %v, want the trigger's error", name, err)
			}
			continue
		}
		if w := want[name]; w == nil && err != nil || w != nil && !errors.Is(err, w) {
			t.Errorf("%s: %v, want %v", name, err, w)
		}
	}
	for _, k := range []string{"a", "b"} {
		if e, ok, err := raw.Get(bg, k, later); err != nil || !ok || string(e.Value) != k {
			t.Errorf("Get(%s) = %q, %v, %v", k, e.Value, ok, err)
		}
	}
	if _, ok, _ := full.Get(bg, "second", later); ok {
		t.Error("the write over the limit is there")
	}
	// The conflict kept its move of the expired entry: it is in the
	// outbox, and the key is free. The poisoned write kept nothing: its
	// entry is still there, expired, and not in the outbox.
	var moved, poisoned, left int
	db.QueryRow(`SELECT count(*) FROM livedict_outbox WHERE bucket = 'g' AND key = 'expired'`).Scan(&moved)
	db.QueryRow(`SELECT count(*) FROM livedict_outbox WHERE bucket = 'g' AND key = 'poison'`).Scan(&poisoned)
	db.QueryRow(`SELECT count(*) FROM livedict_entries WHERE bucket = 'g' AND key = 'poison'`).Scan(&left)
	if moved != 1 || poisoned != 0 || left != 1 {
		t.Errorf("outbox has %d events of the conflict (want 1) and %d of the poisoned write (want 0); its entry: %d rows (want 1)", moved, poisoned, left)
	}
	if e, ok, err := raw.Get(bg, "versioned", later); err != nil || !ok || string(e.Value) != "v1" {
		t.Errorf("the conflicting write changed its key: %q, %v, %v", e.Value, ok, err)
	}
}

// TestGroupLostTransaction runs a group in which one write makes SQLite
// roll the whole transaction back (RAISE(ROLLBACK) from a trigger): none
// of the group's writes happened, so every one of them fails.
func TestGroupLostTransaction(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	db := plainDB(t, b.Path())
	if _, err := db.Exec(`CREATE TRIGGER doom BEFORE INSERT ON livedict_entries WHEN NEW.key = 'doom'
		BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END`); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	release := sqlite.HoldWriter(b)
	var chans []<-chan error
	for _, k := range []string{"a", "doom", "b"} {
		chans = append(chans, queue(t, b, func() error {
			_, err := raw.Put(bg, k, backend.Write[[]byte]{Value: []byte(k)}, now)
			return err
		}))
	}
	release()
	for i, ch := range chans {
		if err := <-ch; err == nil || !bytes.Contains([]byte(err.Error()), []byte("doomed")) {
			t.Errorf("write %d: %v, want the rollback's error", i, err)
		}
	}
	if n, err := raw.Len(bg, now); err != nil || n != 0 {
		t.Errorf("Len = %d, %v after a lost transaction; want 0", n, err)
	}
	// The writer goes on.
	if _, err := raw.Put(bg, "after", backend.Write[[]byte]{Value: []byte("x")}, now); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitFails makes SQLite refuse the COMMIT of a group (its
// commit hook turns it into a rollback): every write of the group fails,
// including those that had an outcome error, and nothing they did is
// there, nor counted (dropped events) or remembered (claimed events) in
// memory.
func TestGroupCommitFails(t *testing.T) {
	b := openTemp(t)
	now := int64(1_000_000)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g", Retention: 1})
	for _, k := range []string{"e1", "e2", "e3"} {
		if _, err := raw.Put(bg, k, backend.Write[[]byte]{Value: []byte(k), Deadline: now + 10}, now); err != nil {
			t.Fatal(err)
		}
	}
	later := now + 100
	// One event in the outbox: the retention of 1 is reached, so the next
	// move drops the oldest.
	if _, err := raw.Put(bg, "e1", backend.Write[[]byte]{Value: []byte("x")}, later); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(bg, "v", backend.Write[[]byte]{Value: []byte("v")}, later); err != nil {
		t.Fatal(err)
	}
	droppedBefore := raw.DroppedExpired()

	stop := sqlite.FailCommits(b, 1) // the held write's group commits; the next fails
	defer stop()
	release := sqlite.HoldWriter(b)
	chans := []<-chan error{
		queue(t, b, func() error { // moves e2 (and drops an event)
			_, err := raw.Put(bg, "e2", backend.Write[[]byte]{Value: []byte("y")}, later)
			return err
		}),
		queue(t, b, func() error { // claims e3's event, then conflicts
			res, err := raw.Put(bg, "e3", backend.Write[[]byte]{Value: []byte("z"), Conditional: true, IfVersion: 1, ClaimDisplaced: time.Minute}, later)
			if res.Displaced != nil {
				return errors.New("a displaced event is reported by a write that did not commit")
			}
			return err
		}),
		queue(t, b, func() error {
			_, err := raw.Put(bg, "new", backend.Write[[]byte]{Value: []byte("n")}, later)
			return err
		}),
		queue(t, b, func() error {
			_, _, err := raw.Delete(bg, "v", later)
			return err
		}),
	}
	release()
	for i, ch := range chans {
		err := <-ch
		if err == nil || errors.Is(err, backend.ErrConflict) {
			t.Errorf("write %d: %v; want the failed commit's error", i, err)
		}
	}
	stop()
	if got := raw.DroppedExpired(); got != droppedBefore {
		t.Errorf("DroppedExpired = %d after a failed commit, want %d", got, droppedBefore)
	}
	if n := sqlite.InFlight(raw); n != 0 {
		t.Errorf("%d events in flight after a failed commit, want 0", n)
	}
	db := plainDB(t, b.Path())
	var outbox, entries int
	db.QueryRow(`SELECT count(*) FROM livedict_outbox WHERE bucket = 'g'`).Scan(&outbox)
	db.QueryRow(`SELECT count(*) FROM livedict_entries WHERE bucket = 'g'`).Scan(&entries)
	if outbox != 1 || entries != 4 { // e1's event; e1, e2, e3, v
		t.Errorf("%d outbox events and %d entries after a failed commit; want 1 and 4", outbox, entries)
	}
	// The writer goes on.
	if _, err := raw.Put(bg, "new", backend.Write[[]byte]{Value: []byte("n")}, later); err != nil {
		t.Fatal(err)
	}
}

// TestCommitFailsAlone: a write alone whose commit SQLite refuses fails,
// and is not there; in one statement (a rewrite of a live entry) or in a
// transaction (a new key).
func TestCommitFailsAlone(t *testing.T) {
	b := openTemp(t)
	now := time.Now().UnixMilli()
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("v1")}, now); err != nil {
		t.Fatal(err)
	}
	stop := sqlite.FailCommits(b, 0)
	defer stop()
	if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("v2")}, now); err == nil {
		t.Error("a rewrite whose commit failed returned no error")
	}
	if _, err := raw.Put(bg, "new", backend.Write[[]byte]{Value: []byte("n")}, now); err == nil {
		t.Error("a new key whose commit failed returned no error")
	}
	stop()
	if e, _, err := raw.Get(bg, "k", now); err != nil || string(e.Value) != "v1" {
		t.Errorf("Get(k) = %q, %v; want v1", e.Value, err)
	}
	if _, ok, err := raw.Get(bg, "new", now); err != nil || ok {
		t.Errorf("Get(new) = %v, %v; want absent", ok, err)
	}
}

// TestGroupCancelWhileQueued: a write whose ctx ends while it waits for
// the writer returns ctx's error before the writer is free, and never
// runs; one whose ctx ends after its group has run it completes with the
// group.
func TestGroupCancelWhileQueued(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	now := time.Now().UnixMilli()

	release := sqlite.HoldWriter(b)
	ctx, cancel := context.WithCancel(bg)
	ch := queue(t, b, func() error {
		_, err := raw.Put(ctx, "cancelled", backend.Write[[]byte]{Value: []byte("x")}, now)
		return err
	})
	cancel()
	if err := <-ch; !errors.Is(err, context.Canceled) { // the writer is still held
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	release()
	if _, ok, err := raw.Get(bg, "cancelled", now); err != nil || ok {
		t.Errorf("the cancelled write is there (%v, %v)", ok, err)
	}

	// Now one that the group has run when its ctx ends. Another write
	// queues first, to lead the group, so that this one is run by
	// another goroutine than its own.
	release = sqlite.HoldWriter(b)
	ctx, cancel = context.WithCancel(bg)
	defer cancel()
	lead := queue(t, b, func() error {
		_, err := raw.Put(bg, "leader", backend.Write[[]byte]{Value: []byte("x")}, now)
		return err
	})
	ch = queue(t, b, func() error {
		_, err := raw.Put(ctx, "ran", backend.Write[[]byte]{Value: []byte("x")}, now)
		return err
	})
	started, unblock := sqlite.BlockingWrite(b) // after it in the same group
	for sqlite.QueuedWrites(b) != 3 {
		time.Sleep(time.Millisecond)
	}
	release()
	<-started
	cancel()
	select {
	case err := <-ch:
		t.Fatalf("a write that ran returned %v before its group committed", err)
	case <-time.After(20 * time.Millisecond):
	}
	unblock()
	if err := errors.Join(<-ch, <-lead); err != nil {
		t.Errorf("Put = %v; a write that ran completes with its group", err)
	}
	if _, ok, err := raw.Get(bg, "ran", now); err != nil || !ok {
		t.Errorf("Get(ran) = %v, %v; want it there", ok, err)
	}

	// A ctx that has ended before the call runs nothing.
	if _, err := raw.Put(ctx, "late", backend.Write[[]byte]{Value: []byte("x")}, now); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with an ended ctx = %v", err)
	}
}
