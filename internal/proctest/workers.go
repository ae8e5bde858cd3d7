package proctest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
)

// The worker halves of the multi-process tests every shared backend runs;
// the backends differ only in how a worker opens its store.

// StoreOpener opens a worker's store of conformance Items and returns the
// function that closes the store and what it opened.
type StoreOpener func() (*conformance.Store, func() error, error)

// WorkCounter says "ready", waits for "go", then increments the stored
// counter n times, each a read-modify-write under Lock.
func WorkCounter(open StoreOpener, n int) error {
	s, closeAll, err := open()
	if err != nil {
		return err
	}
	Say("ready")
	AwaitGo()
	for i := range n {
		if err := lockedIncrement(s); err != nil {
			closeAll()
			return fmt.Errorf("increment %d: %w", i, err)
		}
	}
	return closeAll()
}

func lockedIncrement(s *conformance.Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := s.Lock(ctx, "counter")
	if err != nil {
		return err
	}
	v, ok, err := s.Get(ctx, "counter")
	if err == nil && !ok {
		err = errors.New("the counter is missing")
	}
	if err == nil {
		v.N++
		err = s.Set(ctx, "counter", v)
	}
	return errors.Join(err, l.Unlock(ctx))
}

// WorkExpire prints "key N" for every OnExpire it gets, until stdin ends:
// the worker side of ExpiredOnce.
func WorkExpire(open StoreOpener) error {
	s, closeAll, err := open()
	if err != nil {
		return err
	}
	s.OnExpire(func(_ context.Context, key string, v conformance.Item) { Say("%s %d", key, v.N) })
	Say("ready")
	AwaitEOF()
	return closeAll()
}

// SlowHook is how long the OnExpire hook of WorkSlow runs: longer than the
// claim lease a store renews (3s), shorter than its hook timeout.
const SlowHook = 4500 * time.Millisecond

// WorkSlow is a listener whose OnExpire hook takes SlowHook and then
// prints "kI I": the other half of KeepsClaims.
func WorkSlow(open StoreOpener) error {
	s, closeAll, err := open()
	if err != nil {
		return err
	}
	s.OnExpire(func(_ context.Context, key string, v conformance.Item) {
		time.Sleep(SlowHook)
		Say("%s %d", key, v.N)
	}, livedict.HookTimeout(time.Minute))
	Say("ready")
	AwaitEOF()
	return closeAll()
}

// WorkHang is a listener that dies mid-delivery: its OnExpire hook prints
// "kI I" and then never returns (the hook timeout is an hour), so every
// event it claims stays unacknowledged until the test kills it. The other
// half of HandOver.
func WorkHang(open StoreOpener) error {
	s, closeAll, err := open()
	if err != nil {
		return err
	}
	s.OnExpire(func(ctx context.Context, key string, v conformance.Item) {
		Say("%s %d", key, v.N)
		<-ctx.Done()
	}, livedict.HookTimeout(time.Hour))
	Say("ready")
	AwaitEOF()
	return closeAll()
}

// WorkLoad says "ready", waits for "go", then misses key "hot" from n
// goroutines at once with GetOrLoad, and prints "loads L" with how many
// times its loader ran (it takes 200ms, long enough for every process to
// miss meanwhile). The worker half of LoadOnce.
func WorkLoad(open StoreOpener, n int) error {
	s, closeAll, err := open()
	if err != nil {
		return err
	}
	Say("ready")
	AwaitGo()
	var loads atomic.Int64
	load := func(context.Context, string) (conformance.Item, error) {
		loads.Add(1)
		time.Sleep(200 * time.Millisecond)
		return conformance.Item{Name: "hot", N: 1}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.GetOrLoad(context.Background(), "hot", load)
			if err == nil && v.N != 1 {
				err = fmt.Errorf("GetOrLoad returned %+v", v)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			closeAll()
			return err
		}
	}
	Say("loads %d", loads.Load())
	AwaitEOF()
	return closeAll()
}
