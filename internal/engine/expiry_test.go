package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/clock"
)

// TestExpiryDuringInsertion: keys whose deadlines fall due over a spread
// are set while the clock moves past many of them, so that the scheduler
// sweeps and delivers while the insertion goes on, through a small hook
// queue that fills (Block) and a retention far below the number of keys.
// An OnExpire hook hears every key exactly once and nothing is dropped.
func TestExpiryDuringInsertion(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 4_000
	}
	clk := clock.NewFake(time.Unix(1_900_000_000, 0))
	s, err := New(testCodec(), livedict.WithClock(clk), livedict.WithHookQueue(8, livedict.Block),
		livedict.WithExpiryRetention(100))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	heard := make([]atomic.Int32, n)
	var early atomic.Int64
	deadline := make([]time.Time, n)
	if _, err := s.OnExpire(func(_ context.Context, key string, v int) {
		heard[v].Add(1)
		if key != "k"+strconv.Itoa(v) || clk.Now().Before(deadline[v]) {
			early.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	// The deadlines start 1 s ahead and spread over 4 s, while the clock
	// moves 1 ms per two Sets: the insertion outlasts most of them. A key
	// whose deadline the clock has passed gets the shortest TTL there is,
	// 1 ms (a TTL under it is refused).
	start := clk.Now()
	slot := rand.New(rand.NewPCG(5, 6)).Perm(n)
	for i := range deadline {
		deadline[i] = start.Add(time.Second + time.Duration(slot[i])*4*time.Second/time.Duration(n)).Truncate(time.Millisecond)
	}
	for i := range n {
		if i%2 == 0 {
			clk.Advance(time.Millisecond)
		}
		ttl := max(deadline[i].Sub(clk.Now()), time.Millisecond)
		deadline[i] = clk.Now().Add(ttl)
		if err := s.Set(ctx, "k"+strconv.Itoa(i), i, livedict.TTL(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	last := slices.MaxFunc(deadline, time.Time.Compare)
	for !clk.Now().After(last) {
		clk.Advance(7 * time.Millisecond)
	}
	// Wait for the hooks to have run, or (a hang guard, not a measure)
	// give up after ten seconds and count what is missing.
	for guard := time.Now().Add(10 * time.Second); time.Now().Before(guard); time.Sleep(time.Millisecond) {
		clk.Advance(0) // any timer the scheduler still waits on is due
		if st := s.Stats(); st.Expired >= uint64(n) && st.Hooks.Queued == 0 && st.Hooks.Completed >= uint64(n) {
			break
		}
	}

	missing, twice := 0, 0
	for i := range heard {
		switch c := heard[i].Load(); {
		case c == 0:
			missing++
		case c > 1:
			twice++
		}
	}
	st := s.Stats()
	if missing > 0 || twice > 0 || early.Load() > 0 || st.ExpiredDropped > 0 || st.Hooks.Dropped > 0 {
		t.Fatalf("of %d keys: %d not heard, %d heard more than once, %d heard early or with another key; %d expiries and %d hook calls dropped",
			n, missing, twice, early.Load(), st.ExpiredDropped, st.Hooks.Dropped)
	}
}
