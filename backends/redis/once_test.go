package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/redistest"
)

// onceReadTimeout is the read timeout of the clients of the fault tests:
// short, so that a pause of a second outlasts it and go-redis would retry
// (it retries a pipeline up to MaxRetries times, 3 by default, after a
// read timeout).
const onceReadTimeout = 300 * time.Millisecond

// newShortClient returns a client on url with onceReadTimeout and
// go-redis' default retries, closed after the test.
func newShortClient(t testing.TB, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.ReadTimeout = onceReadTimeout
	o.WriteTimeout = onceReadTimeout
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// storeOn opens a store of Items on c with the given key prefix.
func storeOn(t testing.TB, c goredis.UniversalClient, prefix string) *conformance.Store {
	t.Helper()
	b, err := redis.New(c, redis.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestWritesOnceAcrossStall: Update, Delete, Unlock and TryLock issued
// while the server is stalled (SIGSTOP) longer than the client's read
// timeout take effect at most once, and each either reports what it did or
// reports an unknown outcome (livedict.ErrOutcomeUnknown); an error that is
// not ErrOutcomeUnknown means the operation did not take effect. go-redis
// resends a pipeline after a read timeout; the first copy is still in the
// server's socket and runs when the server resumes, so a script sent again
// would run twice.
func TestWritesOnceAcrossStall(t *testing.T) {
	url, p := redistest.Server(t)
	if p == nil {
		t.Skip("needs a server this test can stop (LIVEDICT_REDIS_URL is set)")
	}
	trials := count(t, "ONCE_TRIALS", 6, 3)
	observer := newClient(t, url)
	outcomes := make(map[string]map[string]int) // op -> outcome -> trials
	note := func(op, outcome string) {
		if outcomes[op] == nil {
			outcomes[op] = make(map[string]int)
		}
		outcomes[op][outcome]++
	}
	for trial := range trials {
		prefix := uniquePrefix()
		s := storeOn(t, newShortClient(t, url), prefix)
		obs := storeOn(t, observer, prefix)
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		if err := s.Set(ctx, "u", conformance.Item{N: 0}); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "d", conformance.Item{Name: "doomed"}); err != nil {
			t.Fatal(err)
		}
		held, err := s.Lock(ctx, "l", livedict.Lease(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}

		// The Update reads before the pause and writes during it: its fn
		// waits for the pause.
		var (
			wg                             sync.WaitGroup
			updErr, delErr, unlErr, tryErr error
			deleted, tookIt                bool
			got                            *livedict.Lock
		)
		read, paused := make(chan struct{}), make(chan struct{})
		var once sync.Once
		opCtx, opCancel := context.WithTimeout(ctx, 10*time.Second)
		wg.Add(4)
		go func() {
			defer wg.Done()
			updErr = s.Update(opCtx, "u", func(cur conformance.Item, _ bool) (conformance.Item, bool, error) {
				once.Do(func() { close(read); <-paused })
				cur.N++
				return cur, true, nil
			})
		}()
		<-read
		p.Pause(t)
		close(paused)
		go func() { defer wg.Done(); deleted, delErr = s.Delete(opCtx, "d") }()
		go func() { defer wg.Done(); unlErr = held.Unlock(opCtx) }()
		go func() { defer wg.Done(); got, tookIt, tryErr = s.TryLock(opCtx, "t", livedict.Lease(30*time.Second)) }()
		time.Sleep(time.Second)
		p.Resume(t)
		wg.Wait()
		opCancel()

		unknown := func(err error) bool { return errors.Is(err, livedict.ErrOutcomeUnknown) }
		wrong := func(op, format string, args ...any) {
			t.Errorf("trial %d: %s: %s", trial, op, fmt.Sprintf(format, args...))
			note(op, "wrong")
		}

		// Update: N must have gone up by one at most, and by one exactly
		// when it reported success.
		v, ok, err := obs.Get(ctx, "u")
		if err != nil || !ok {
			t.Fatalf("trial %d: Get(u) = %v, %v, %v", trial, v, ok, err)
		}
		switch {
		case updErr == nil && v.N == 1:
			note("Update", "done once")
		case unknown(updErr) && (v.N == 0 || v.N == 1):
			note("Update", fmt.Sprintf("unknown (N=%d)", v.N))
		case updErr != nil && !unknown(updErr) && v.N == 0:
			note("Update", "failed, no effect")
		default:
			wrong("Update", "returned %v and N is %d (it was 0)", updErr, v.N)
		}

		// Delete: a success must say the key was there (it was).
		_, still, err := obs.Get(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case delErr == nil && deleted && !still:
			note("Delete", "done once")
		case unknown(delErr):
			note("Delete", fmt.Sprintf("unknown (gone=%v)", !still))
		case delErr != nil && still:
			note("Delete", "failed, no effect")
		default:
			wrong("Delete", "returned %v, %v and the key is there: %v", deleted, delErr, still)
		}

		// Unlock of a live lease: success frees the key; ErrLockLost is a
		// lie (the lease had 30s to go).
		free, _, err := obs.TryLock(ctx, "l", livedict.Lease(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		freeL := free != nil
		switch {
		case unlErr == nil && freeL:
			note("Unlock", "done once")
		case unknown(unlErr):
			note("Unlock", fmt.Sprintf("unknown (freed=%v)", freeL))
		case unlErr != nil && !errors.Is(unlErr, livedict.ErrLockLost) && !freeL:
			note("Unlock", "failed, no effect")
		default:
			wrong("Unlock", "returned %v and the key is free: %v", unlErr, freeL)
		}

		// TryLock of a free key: it must take it, and then hold it.
		other, _, err := obs.TryLock(ctx, "t", livedict.Lease(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		lockedByUs := other == nil
		switch {
		case tryErr == nil && tookIt && lockedByUs:
			if err := got.Unlock(ctx); err != nil {
				wrong("TryLock", "took the key but its Unlock failed: %v", err)
			} else {
				note("TryLock", "done once")
			}
		case unknown(tryErr):
			note("TryLock", fmt.Sprintf("unknown (key locked=%v)", lockedByUs))
		case tryErr != nil && !lockedByUs:
			note("TryLock", "failed, no effect")
		default:
			wrong("TryLock", "returned %v, %v on a free key; the key is locked: %v", tookIt, tryErr, lockedByUs)
		}
		cancel()
	}
	ops := make([]string, 0, len(outcomes))
	for op := range outcomes {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		var parts []string
		for o, n := range outcomes[op] {
			parts = append(parts, fmt.Sprintf("%s: %d", o, n))
		}
		sort.Strings(parts)
		t.Logf("%s over %d trials: %s", op, trials, strings.Join(parts, ", "))
	}
}
