package reliability

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	ex "github.com/livedict/livedict/generated_example"
)

// TestHookAbuse registers 10,000 panicking hooks, a hook that never
// returns, and a hook that calls back into the store, beside a hook that
// records every event: the store keeps serving, each key's events arrive
// in order, goroutines stay bounded, and Stats counts every failure.
func TestHookAbuse(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) { hookAbuse(t, tg.uri(t)) })
	}
}

func hookAbuse(t *testing.T, uri string) {
	ctx := context.Background()
	const workers = 4
	var failures atomic.Int64
	s, err := ex.NewSessionStore(storeOpts(uri, livedict.WithHookWorkers(workers),
		livedict.WithHookErrorHandler(func(livedict.HookError) { failures.Add(1) }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := runtime.NumGoroutine()

	const panickers = 10_000
	var panicCalls atomic.Int64
	for i := range panickers {
		s.OnSet(func(context.Context, string, ex.Session) {
			panicCalls.Add(1)
			panic(fmt.Sprint("hook ", i, " always panics"))
		}, livedict.HookName(fmt.Sprint("panicker-", i)))
	}
	release := make(chan struct{})
	var stuckCalls atomic.Int64
	s.OnSet(func(context.Context, string, ex.Session) {
		stuckCalls.Add(1)
		<-release // ignores its ctx: it never returns while the test runs
	}, livedict.HookTimeout(20*time.Millisecond), livedict.HookName("stuck"))
	defer close(release)
	var echoes atomic.Int64
	s.OnSet(func(hctx context.Context, key string, v ex.Session) {
		if strings.HasPrefix(key, "echo-") {
			return
		}
		if _, _, err := s.Get(hctx, key); err != nil {
			t.Errorf("Get from a hook: %v", err)
		}
		if err := s.Set(hctx, "echo-"+key, v); err != nil {
			t.Errorf("Set from a hook: %v", err)
		}
		echoes.Add(1)
	}, livedict.HookName("callback"), livedict.HookTimeout(time.Minute)) // only the stuck hook may time out, however loaded the machine
	var mu sync.Mutex
	seen := map[string][]int{}
	s.OnSet(func(_ context.Context, key string, v ex.Session) {
		if strings.HasPrefix(key, "echo-") {
			return
		}
		var n int
		fmt.Sscan(v.Meta["n"], &n)
		mu.Lock()
		seen[key] = append(seen[key], n)
		mu.Unlock()
	}, livedict.HookName("recorder"), livedict.HookTimeout(time.Minute))

	const keys, rounds = 10, 12
	peak := base
	for r := range rounds {
		for k := range keys {
			key := fmt.Sprint("k", k)
			v := ex.Session{UserID: key, Meta: map[string]string{"n": fmt.Sprint(r)}}
			if err := s.Set(ctx, key, v); err != nil {
				t.Fatalf("Set(%s) round %d: %v", key, r, err)
			}
			got, ok, err := s.Get(ctx, key)
			if err != nil || !ok || got.Meta["n"] != fmt.Sprint(r) {
				t.Fatalf("Get(%s) after round %d = %v, %v, %v: the store stopped serving", key, r, got.Meta, ok, err)
			}
		}
		peak = max(peak, runtime.NumGoroutine())
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k := range keys {
			if len(seen[fmt.Sprint("k", k)]) < rounds {
				return false
			}
		}
		return echoes.Load() >= keys*rounds
	}
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the recorder saw %d keys' events and the callback hook ran %d times", len(seen), echoes.Load())
		}
		peak = max(peak, runtime.NumGoroutine())
	}
	mu.Lock()
	for k := range keys {
		key := fmt.Sprint("k", k)
		for i, n := range seen[key] {
			if n != i {
				t.Fatalf("events of %s arrived as %v; want 0..%d in order", key, seen[key], rounds-1)
			}
		}
	}
	mu.Unlock()

	st := s.Stats().Hooks
	t.Logf("hooks: %d panicking calls, %d stuck calls, %d callbacks; stats %+v; goroutines %d before, at most %d during",
		panicCalls.Load(), stuckCalls.Load(), echoes.Load(), st, base, peak)
	if st.Panics != uint64(panicCalls.Load()) {
		t.Errorf("Stats().Hooks.Panics = %d, but the panicking hooks were called %d times", st.Panics, panicCalls.Load())
	}
	if st.Panics < panickers {
		t.Errorf("Stats().Hooks.Panics = %d; every one of the %d panicking hooks panics at least once", st.Panics, panickers)
	}
	if st.Tripped < panickers+1 {
		t.Errorf("Stats().Hooks.Tripped = %d; the breaker must switch off all %d panicking hooks and the stuck one", st.Tripped, panickers)
	}
	if st.Timeouts == 0 || st.Timeouts > uint64(stuckCalls.Load()) {
		t.Errorf("Stats().Hooks.Timeouts = %d for %d calls of the stuck hook", st.Timeouts, stuckCalls.Load())
	}
	if got, want := uint64(failures.Load()), st.Panics+st.Timeouts; got < want {
		t.Errorf("the error handler saw %d failures; Stats counts %d", got, want)
	}
	// Workers, the watchdog, and at most the runaway bound of stuck calls.
	if limit := base + workers + 64 + 1; peak > limit {
		t.Errorf("goroutines peaked at %d; the pool allows %d over %d", peak, limit-base, base)
	}
}

// TestHookQueueOverflow drives a one-worker pool with a queue of 8 past
// full under the Drop policy: Set never waits, and every call is counted
// as completed or dropped.
func TestHookQueueOverflow(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := ex.NewSessionStore(storeOpts(tg.uri(t), livedict.WithHookWorkers(1), livedict.WithHookQueue(8, livedict.Drop))...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var ran atomic.Int64
			s.OnSet(func(hctx context.Context, _ string, _ ex.Session) {
				ran.Add(1)
				select {
				case <-time.After(2 * time.Millisecond):
				case <-hctx.Done():
				}
			})
			const sets = 500
			for i := range sets {
				if err := s.Set(ctx, fmt.Sprint("k", i%50), ex.Session{UserID: "u"}); err != nil {
					t.Fatal(err)
				}
			}
			settled := func() bool {
				st := s.Stats().Hooks
				return st.Queued == 0 && st.Completed+st.Dropped+st.Timeouts == sets
			}
			for deadline := time.Now().Add(30 * time.Second); !settled(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("hook stats never settled: %+v", s.Stats().Hooks)
				}
			}
			st := s.Stats().Hooks
			if st.Dropped == 0 || st.Submitted != sets || uint64(ran.Load()) != st.Completed+st.Timeouts {
				t.Fatalf("%d Sets past a queue of 8: stats %+v, hook ran %d times", sets, st, ran.Load())
			}
			t.Logf("%d Sets: %d hook calls completed, %d dropped", sets, st.Completed, st.Dropped)
		})
	}
}
