package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
)

var lockTests = []subtest{
	{name: "TryLockWhileHeld", fn: testTryLockWhileHeld},
	{name: "FencingTokensGrow", fn: testFencingTokensGrow},
	{name: "LockWaitsForUnlock", fn: testLockWaitsForUnlock},
	{name: "LeaseEndsDeadHolder", fn: testLeaseEndsDeadHolder},
	{name: "ContextEnds", fn: testLockContextEnds},
	{name: "NotReentrant", fn: testLockNotReentrant},
	{name: "MutualExclusion", fn: testLockMutualExclusion},
	{name: "Extend", fn: testLockExtend},
	{name: "KeysAreIndependent", fn: testLockKeysIndependent},
	{name: "ClockMovesWhileArming", fn: testLockClockMovesWhileArming},
}

func lock(t testing.TB, s *Store, key string, opts ...livedict.LockOption) *livedict.Lock {
	t.Helper()
	l, err := s.Lock(bg, key, opts...)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	if l.Key() != key {
		t.Fatalf("Lock(%q).Key() = %q", key, l.Key())
	}
	return l
}

func unlock(t testing.TB, l *livedict.Lock) {
	t.Helper()
	if err := l.Unlock(bg); err != nil {
		t.Fatalf("Unlock(%q): %v", l.Key(), err)
	}
}

// tryLock calls TryLock and checks it got what want says.
func tryLock(t testing.TB, s *Store, key string, want bool, opts ...livedict.LockOption) *livedict.Lock {
	t.Helper()
	l, ok, err := s.TryLock(bg, key, opts...)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", key, err)
	}
	if ok != want {
		t.Fatalf("TryLock(%q) acquired = %v, want %v", key, ok, want)
	}
	if ok != (l != nil) {
		t.Fatalf("TryLock(%q) = %v, %v: a lock exactly when acquired", key, l, ok)
	}
	return l
}

// lockAsync starts Lock on another goroutine; the channel gets its result.
type lockResult struct {
	l   *livedict.Lock
	err error
}

func lockAsync(ctx context.Context, s *Store, key string, opts ...livedict.LockOption) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		l, err := s.Lock(ctx, key, opts...)
		ch <- lockResult{l, err}
	}()
	return ch
}

// receive waits (within the guard) for a lockAsync result.
func receive(t testing.TB, what string, ch <-chan lockResult) lockResult {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r
	case <-timer.C:
		t.Fatalf("%s: Lock has not returned after %v", what, guard)
		return lockResult{}
	}
}

// receiveAtLeaseEnd waits for a lockAsync result once the clock reached
// the holder's lease end. The waiter sleeps until that end; a waiter on a
// shared backend polls, and may have set its next poll timer just after the
// clock moved, so it gets a few more milliseconds.
func (f *fixture) receiveAtLeaseEnd(ch <-chan lockResult) lockResult {
	f.t.Helper()
	if f.h.Shared {
		for range 10 {
			select {
			case r := <-ch:
				return r
			case <-time.After(20 * time.Millisecond):
				f.clk.Advance(time.Millisecond)
			}
		}
	}
	return receive(f.t, "once the lease ended", ch)
}

// notYet fails the test if the lockAsync result is already there.
func notYet(t testing.TB, what string, ch <-chan lockResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: Lock returned %v, %v while the key was held", what, r.l, r.err)
	default:
	}
}

// waitSleeping waits until a goroutine blocked in Lock sleeps on a fake
// timer, beyond the rest timers of the fixture.
func (f *fixture) waitSleeping(rest int) {
	f.t.Helper()
	waitFor(f.t, "the waiting Lock to sleep on the clock", func() bool { return f.clk.Timers() > rest })
}

// testTryLockWhileHeld: a held key cannot be taken; once unlocked it can;
// a second Unlock is ErrLockLost.
func testTryLockWhileHeld(t *testing.T, f *fixture) {
	s := f.store()
	l := lock(t, s, "k")
	tryLock(t, s, "k", false)
	unlock(t, l)
	if err := l.Unlock(bg); !errors.Is(err, backend.ErrLockLost) {
		t.Fatalf("second Unlock: %v, want ErrLockLost", err)
	}
	l2 := tryLock(t, s, "k", true)
	tryLock(t, s, "k", false)
	unlock(t, l2)
	unlock(t, lock(t, s, "k"))
}

// testFencingTokensGrow: every acquisition of a key, by Lock or TryLock,
// gets a larger fencing token than the one before.
func testFencingTokensGrow(t *testing.T, f *fixture) {
	s := f.store()
	var last uint64
	for i := range 10 {
		var l *livedict.Lock
		if i%2 == 0 {
			l = lock(t, s, "k")
		} else {
			l = tryLock(t, s, "k", true)
		}
		if l.Token() <= last {
			t.Fatalf("acquisition %d got token %d after %d: tokens must grow", i, l.Token(), last)
		}
		last = l.Token()
		// Another key in between does not make the next token smaller.
		unlock(t, lock(t, s, fmt.Sprint("other", i)))
		unlock(t, l)
	}
}

// testLockWaitsForUnlock: Lock of a held key waits, and gets the key as soon
// as the holder unlocks (long before the lease ends).
func testLockWaitsForUnlock(t *testing.T, f *fixture) {
	s := f.store()
	rest := f.restTimers()
	holder := lock(t, s, "k")
	ch := lockAsync(bg, s, "k")
	f.waitSleeping(rest)
	notYet(t, "while held", ch)
	unlock(t, holder)
	r := receive(t, "after Unlock", ch)
	if r.err != nil {
		t.Fatalf("waiting Lock: %v", r.err)
	}
	if r.l.Token() <= holder.Token() {
		t.Fatalf("waiter's token %d is not above the holder's %d", r.l.Token(), holder.Token())
	}
	unlock(t, r.l)
}

// testLeaseEndsDeadHolder: a holder that never unlocks loses the key when its
// lease ends; its late Unlock is ErrLockLost.
func testLeaseEndsDeadHolder(t *testing.T, f *fixture) {
	s := f.store()
	rest := f.restTimers()
	dead := lock(t, s, "k", livedict.Lease(100*time.Millisecond))
	if want := epoch.Add(100 * time.Millisecond); !dead.Deadline().Equal(want) {
		t.Fatalf("Deadline() = %v, want %v", dead.Deadline(), want)
	}
	ch := lockAsync(bg, s, "k")
	f.waitSleeping(rest)
	f.clk.Advance(99 * time.Millisecond)
	tryLock(t, s, "k", false)
	notYet(t, "1ms before the lease ends", ch)
	f.clk.Advance(time.Millisecond)
	r := f.receiveAtLeaseEnd(ch)
	if r.err != nil {
		t.Fatalf("Lock after the lease ended: %v", r.err)
	}
	if r.l.Token() <= dead.Token() {
		t.Fatalf("new holder's token %d is not above the dead holder's %d", r.l.Token(), dead.Token())
	}
	if err := dead.Unlock(bg); !errors.Is(err, backend.ErrLockLost) {
		t.Fatalf("Unlock by the holder whose lease ended: %v, want ErrLockLost", err)
	}
	// The late Unlock did not free the key of the new holder.
	tryLock(t, s, "k", false)
	unlock(t, r.l)
	// A lease that ran out with nobody else taking the key is lost too.
	l := lock(t, s, "j", livedict.Lease(time.Second))
	f.clk.Advance(time.Second)
	if err := l.Unlock(bg); !errors.Is(err, backend.ErrLockLost) {
		t.Fatalf("Unlock after the lease ran out: %v, want ErrLockLost", err)
	}
	unlock(t, tryLock(t, s, "j", true))
}

// testLockContextEnds: Lock of a held key returns ErrLockTimeout when its
// ctx ends, cancelled or past its deadline.
func testLockContextEnds(t *testing.T, f *fixture) {
	s := f.store()
	rest := f.restTimers()
	holder := lock(t, s, "k")

	ctx, cancel := context.WithCancel(bg)
	ch := lockAsync(ctx, s, "k")
	f.waitSleeping(rest)
	notYet(t, "before cancel", ch)
	cancel()
	if r := receive(t, "after cancel", ch); !errors.Is(r.err, backend.ErrLockTimeout) {
		t.Fatalf("Lock with a cancelled ctx: %v, %v; want ErrLockTimeout", r.l, r.err)
	}

	ctx, cancel = context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if l, err := s.Lock(ctx, "k"); !errors.Is(err, backend.ErrLockTimeout) {
		t.Fatalf("Lock with a ctx that times out: %v, %v; want ErrLockTimeout", l, err)
	}
	// The holder still holds the key.
	tryLock(t, s, "k", false)
	unlock(t, holder)
}

// testLockNotReentrant: the goroutine holding a key cannot lock it again.
func testLockNotReentrant(t *testing.T, f *fixture) {
	s := f.store()
	l := lock(t, s, "k")
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if l2, err := s.Lock(ctx, "k"); !errors.Is(err, backend.ErrLockTimeout) {
		t.Fatalf("second Lock of a held key by its holder: %v, %v; want ErrLockTimeout", l2, err)
	}
	tryLock(t, s, "k", false)
	unlock(t, l)
}

// testLockMutualExclusion (regression): 8 goroutines x 200 read-modify-write
// increments of one stored counter under Lock lose no increment, and no two
// callers ever hold the lock at once.
func testLockMutualExclusion(t *testing.T, f *fixture) {
	const goroutines, n = 8, 200
	s := f.store(livedict.WithClock(clock.Real))
	set(t, s, "counter", Item{Name: "counter"})
	var inside atomic.Int32
	var overlaps atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := increment(s, &inside, &overlaps); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if o := overlaps.Load(); o != 0 {
		t.Errorf("%d times a caller got the lock while another held it", o)
	}
	if got := mustGet(t, s, "counter").N; got != goroutines*n {
		t.Fatalf("counter = %d after %d locked increments", got, goroutines*n)
	}
}

func increment(s *Store, inside *atomic.Int32, overlaps *atomic.Int64) error {
	ctx, cancel := context.WithTimeout(bg, guard)
	defer cancel()
	l, err := s.Lock(ctx, "counter")
	if err != nil {
		return fmt.Errorf("locking: %w", err)
	}
	if inside.Add(1) != 1 {
		overlaps.Add(1)
	}
	v, ok, err := s.Get(ctx, "counter")
	if err == nil && !ok {
		err = errors.New("counter missing")
	}
	if err == nil {
		v.N++
		err = s.Set(ctx, "counter", v)
	}
	inside.Add(-1)
	if uerr := l.Unlock(ctx); err == nil && uerr != nil {
		err = fmt.Errorf("unlocking: %w", uerr)
	}
	return err
}

// testLockExtend: Extend moves the lease's end to d from now; a lease that
// ended cannot be extended.
func testLockExtend(t *testing.T, f *fixture) {
	s := f.store()
	l := lock(t, s, "k", livedict.Lease(100*time.Millisecond))
	f.clk.Advance(60 * time.Millisecond)
	if err := l.Extend(bg, 100*time.Millisecond); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if want := epoch.Add(160 * time.Millisecond); !l.Deadline().Equal(want) {
		t.Fatalf("Deadline() after Extend = %v, want %v", l.Deadline(), want)
	}
	f.clk.Advance(60 * time.Millisecond) // past the first lease, within the extended one
	tryLock(t, s, "k", false)
	f.clk.Advance(39 * time.Millisecond)
	tryLock(t, s, "k", false)
	f.clk.Advance(time.Millisecond)
	other := tryLock(t, s, "k", true)
	if err := l.Extend(bg, time.Second); !errors.Is(err, backend.ErrLockLost) {
		t.Fatalf("Extend of a lost lease: %v, want ErrLockLost", err)
	}
	if err := l.Unlock(bg); !errors.Is(err, backend.ErrLockLost) {
		t.Fatalf("Unlock of a lost lease: %v, want ErrLockLost", err)
	}
	unlock(t, other)
}

// testLockKeysIndependent: a lock holds its key only; locks are apart from
// data (a locked key can be read and written, and a key need not exist).
func testLockKeysIndependent(t *testing.T, f *fixture) {
	s := f.store()
	a := lock(t, s, "a")
	b := tryLock(t, s, "b", true)
	set(t, s, "a", item("a", 1))
	wantValue(t, s, "a", item("a", 1))
	wantKeys(t, s, "a")
	unlock(t, a)
	tryLock(t, s, "b", false)
	unlock(t, b)
}

// testLockClockMovesWhileArming: the clock moves on between the moment a
// waiting Lock reads it to work out how long to sleep and the moment it arms
// its timer, all the way to the end of the holder's lease or half way
// there. The waiter must get the key as soon as the clock reaches the end
// of the lease.
func testLockClockMovesWhileArming(t *testing.T, f *fixture) {
	if f.h.Shared {
		t.Skip("a shared backend's waiter polls: the jump would not hit the lease end")
	}
	for _, div := range []int{1, 2} {
		t.Run(fmt.Sprintf("by 1/%d of the wait", div), func(t *testing.T) {
			f := f.child(t)
			jc := &jumpClock{Fake: f.clk}
			s := f.store(livedict.WithClock(jc), livedict.WithBucket(fmt.Sprint("jump-", div)))
			const lease = 100 * time.Millisecond
			holder := lock(t, s, "k", livedict.Lease(lease))
			jc.jumpAtNextTimer(div)
			ch := lockAsync(bg, s, "k")
			waitFor(t, "the clock to jump as the waiter arms its timer", jc.jumped)
			if moved := time.Duration(jc.moved.Load()); moved != lease/time.Duration(div) {
				t.Fatalf("the waiter armed its timer for %v, want the lease end, %v", moved*time.Duration(div), lease)
			}
			if div > 1 {
				notYet(t, "before the lease ends", ch)
			}
			f.clk.Advance(lease - lease/time.Duration(div))
			r := receive(t, "the holder's lease has ended", ch)
			if r.err != nil {
				t.Fatalf("Lock: %v", r.err)
			}
			if err := holder.Unlock(bg); !errors.Is(err, backend.ErrLockLost) {
				t.Fatalf("Unlock of the ended lease: %v, want ErrLockLost", err)
			}
			unlock(t, r.l)
		})
	}
}
