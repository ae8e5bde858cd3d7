// Command demo walks through livedict with the stores of package
// generated_example, the way the Python LiveDict demonstration does: CRUD,
// TTL expiry, hooks (then one disabled, one removed), a panicking and a slow
// hook that never reach the caller, a lock guarding a counter, async futures,
// a key-scoped expire hook, read-through loading and sliding expiry.
//
//	go run ./generated_example/demo                      # memory
//	go run ./generated_example/demo -uri sqlite:///tmp/demo.db
//	go run ./generated_example/demo -uri redis://127.0.0.1:6379/0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"  // redis:// and rediss://
	_ "github.com/livedict/livedict/backends/sqlite" // sqlite://
	ex "github.com/livedict/livedict/generated_example"
)

func main() {
	uri := flag.String("uri", "memory://", "backend URI: memory://, sqlite:///path.db or redis://host:port/db")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *uri); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, uri string) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	// Hook failures are reported here instead of to the callers of Set.
	var failures sync.Map
	opts := []livedict.Option{
		livedict.WithURI(uri),
		livedict.WithLogger(slog.New(slog.DiscardHandler)),
		livedict.WithHookErrorHandler(func(e livedict.HookError) { failures.Store(e.HookName+" "+e.Kind, e) }),
	}

	sessions, err := ex.NewSessionStore(append(opts, livedict.WithBucket("demo_sessions"))...)
	if err != nil {
		return err
	}
	defer sessions.Close()
	if err := sessions.Clear(ctx); err != nil {
		return err
	}

	say("== CRUD")
	alice := ex.Session{UserID: "alice", Roles: []string{"admin"}, Profile: &ex.Profile{Name: "Alice"},
		Meta: map[string]string{"lang": "en"}, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := sessions.Set(ctx, "tok-alice", alice); err != nil {
		return err
	}
	got, ok, err := sessions.Get(ctx, "tok-alice")
	if err != nil {
		return err
	}
	say("get tok-alice: found=%v user=%s roles=%v name=%s", ok, got.UserID, got.Roles, got.Profile.Name)
	ttl, _, _ := sessions.TTL(ctx, "tok-alice")
	say("default TTL from the directive: about %v", ttl.Round(time.Minute))
	got.Roles[0] = "changed by the caller"
	again, _, _ := sessions.Get(ctx, "tok-alice")
	say("values are copies: stored role is still %q", again.Roles[0])
	deleted, _ := sessions.Delete(ctx, "tok-alice")
	has, _ := sessions.Has(ctx, "tok-alice")
	say("delete: removed=%v, still there=%v", deleted, has)

	say("== TTL expiry and hooks")
	expired := make(chan string, 16)
	setHook, err := sessions.OnSet(func(ctx context.Context, key string, s ex.Session) {
		say("  OnSet    %s (user %s)", key, s.UserID)
	}, livedict.HookName("log-set"), livedict.Inline())
	if err != nil {
		return err
	}
	expireHook, err := sessions.OnExpire(func(ctx context.Context, key string, s ex.Session) {
		expired <- key + " of " + s.UserID
	}, livedict.HookName("log-expire"))
	if err != nil {
		return err
	}
	if err := sessions.Set(ctx, "tok-bob", ex.Session{UserID: "bob"}, livedict.TTL(150*time.Millisecond)); err != nil {
		return err
	}
	say("  expired: %s", waitFor(expired))
	_, ok, _ = sessions.Get(ctx, "tok-bob")
	say("  get after expiry: found=%v", ok)

	sessions.SetHookEnabled(setHook, false)
	_ = sessions.Set(ctx, "tok-carol", ex.Session{UserID: "carol"}, livedict.TTL(100*time.Millisecond))
	say("  OnSet disabled: no line above for carol")
	say("  expired: %s", waitFor(expired))
	sessions.RemoveHook(expireHook)
	_ = sessions.Set(ctx, "tok-dave", ex.Session{UserID: "dave"}, livedict.TTL(50*time.Millisecond))
	time.Sleep(150 * time.Millisecond)
	select {
	case k := <-expired:
		return fmt.Errorf("removed hook still fired for %s", k)
	default:
		say("  OnExpire removed: dave expired silently")
	}

	say("== Hooks that misbehave never reach the caller")
	if _, err := sessions.OnSet(func(context.Context, string, ex.Session) { panic("boom") }, livedict.HookName("panicky")); err != nil {
		return err
	}
	if _, err := sessions.OnSet(func(ctx context.Context, _ string, _ ex.Session) { <-ctx.Done() },
		livedict.HookName("slow"), livedict.HookTimeout(50*time.Millisecond)); err != nil {
		return err
	}
	start := time.Now()
	for i := range 20 {
		if err := sessions.Set(ctx, fmt.Sprint("tok-", i), ex.Session{UserID: "load"}); err != nil {
			return err
		}
	}
	say("  20 Sets with a panicking and a slow hook took %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	st := sessions.Stats().Hooks
	_, sawPanic := failures.Load("panicky panic")
	_, sawTrip := failures.Load("panicky tripped")
	say("  hook stats: %d panics, %d timeouts, %d tripped; error handler saw the panic=%v, the breaker=%v",
		st.Panics, st.Timeouts, st.Tripped, sawPanic, sawTrip)

	say("== A lock guarding a counter")
	counters, err := ex.NewCounterStore(append(opts, livedict.WithBucket("demo_counters"))...)
	if err != nil {
		return err
	}
	defer counters.Close()
	_ = counters.Clear(ctx)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := increment(ctx, counters, 7); err != nil {
					say("  increment: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	c, _, _ := counters.Get(ctx, 7)
	say("  8 goroutines x 25 locked increments: counter 7 = %d", c.Hits)

	say("== Async futures")
	orders, err := ex.NewOrders(append(opts, livedict.WithBucket("demo_orders"))...)
	if err != nil {
		return err
	}
	defer orders.Close()
	_ = orders.Clear(ctx)
	async := orders.Async()
	var futures []*livedict.Future[struct{}]
	for id := range ex.OrderID(5) {
		futures = append(futures, async.Set(ctx, id, ex.Order{Customer: "c", Lines: []ex.Line{{SKU: "book", Quantity: int(id) + 1, Price: 1299}}}))
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			return err
		}
	}
	n, _ := async.Len(ctx).Wait(ctx)
	o, _ := async.Get(ctx, 4).Wait(ctx)
	say("  5 async Sets done; Len=%d; order 4 has %d books", n, o.Value.Lines[0].Quantity)

	say("== A key-scoped expire hook")
	vip := make(chan string, 4)
	if _, err := orders.OnExpire(func(_ context.Context, id ex.OrderID, o ex.Order) {
		vip <- fmt.Sprint("order ", id, " of ", o.Customer)
	}, orders.ForKey(42)); err != nil {
		return err
	}
	_ = orders.Set(ctx, 41, ex.Order{Customer: "someone"}, livedict.TTL(50*time.Millisecond))
	_ = orders.Set(ctx, 42, ex.Order{Customer: "a VIP"}, livedict.TTL(100*time.Millisecond))
	say("  only the scoped key fires: %s", waitFor(vip))

	say("== Read-through loading")
	// 50 goroutines miss order 7 at once: the loader (a slow database, say)
	// runs once, and they all get its value.
	var loads atomic.Int64
	load := func(_ context.Context, id ex.OrderID) (ex.Order, error) {
		loads.Add(1)
		time.Sleep(20 * time.Millisecond)
		return ex.Order{Customer: "loaded"}, nil
	}
	var loaders sync.WaitGroup
	for range 50 {
		loaders.Add(1)
		go func() {
			defer loaders.Done()
			_, _ = orders.GetOrLoad(ctx, 7, load, livedict.TTL(time.Minute))
		}()
	}
	loaders.Wait()
	o7, _, _ := orders.Get(ctx, 7)
	say("  50 concurrent misses, %d load; order 7 of %s", loads.Load(), o7.Customer)

	say("== Sliding expiry")
	// A session that lives as long as it is used: each read pushes its
	// deadline to 500ms after the read.
	idle := make(chan string, 1)
	if _, err := sessions.OnExpire(func(_ context.Context, tok string, s ex.Session) {
		idle <- tok + " of " + s.UserID
	}, sessions.ForKey("tok-erin")); err != nil {
		return err
	}
	if err := sessions.Set(ctx, "tok-erin", ex.Session{UserID: "erin"}, livedict.Idle(500*time.Millisecond)); err != nil {
		return err
	}
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		if _, _, err := sessions.Get(ctx, "tok-erin"); err != nil {
			return err
		}
	}
	alive, _ := sessions.Has(ctx, "tok-erin")
	say("  read every 100ms for 600ms: still there=%v", alive)
	say("  then no reads: expired after its idle time: %s", waitFor(idle))
	_ = sessions.Set(ctx, "tok-fay", ex.Session{UserID: "fay"}, livedict.NoExpiry())
	changed, _ := sessions.Expire(ctx, "tok-fay", livedict.TTL(time.Hour))
	left, _, _ := sessions.TTL(ctx, "tok-fay")
	say("  Expire gives a key a new deadline without rewriting it: %v, %v left", changed, left.Round(time.Minute))
	return nil
}

// increment adds one to a counter under the key's lock.
func increment(ctx context.Context, s *ex.CounterStore, id int64) error {
	lock, err := s.Lock(ctx, id)
	if err != nil {
		return err
	}
	c, _, err := s.Get(ctx, id)
	if err == nil {
		c.Hits++
		c.Updated = time.Now()
		err = s.Set(ctx, id, c)
	}
	return errors.Join(err, lock.Unlock(ctx))
}

func waitFor(c <-chan string) string {
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		return "(nothing within 5s)"
	}
}
