// Package loading measures read-through loading side by side with the
// loaders of otter and ttlcache, in one process:
//
//	cd bench && go test ./loading -run '^$' -bench . -benchtime 40x
//
// BenchmarkMissStorm: 1,000 goroutines miss one key at once; loads/op is
// how many times the loader ran per storm (1 is the goal).
// BenchmarkReadThroughHit: a Get that hits, on a store with a loader and on
// one without, rotated in short slices over many rounds; it reports the
// median ratio of the two and its interquartile range.
package loading

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/bench/internal/rotate"
	"github.com/livedict/livedict/bench/model"
)

const goroutines = 1000

// storm runs goroutines concurrent gets of one missing key through get and
// returns how many times load ran.
func storm(b *testing.B, get func(load func(context.Context, string) (model.Grant, error)) error) int64 {
	var loads atomic.Int64
	var ready sync.WaitGroup
	ready.Add(goroutines)
	start := make(chan struct{})
	load := func(context.Context, string) (model.Grant, error) {
		loads.Add(1)
		time.Sleep(20 * time.Millisecond) // an origin round trip
		return model.Grant{Scope: 1}, nil
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			if err := get(load); err != nil {
				b.Error(err)
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return loads.Load()
}

func BenchmarkMissStorm(b *testing.B) {
	ctx := context.Background()
	contenders := []struct {
		name string
		run  func(b *testing.B) int64
	}{
		{"livedict", func(b *testing.B) int64 {
			s, err := model.NewGrantStore(livedict.WithDefaultTTL(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			return storm(b, func(load func(context.Context, string) (model.Grant, error)) error {
				_, err := s.GetOrLoad(ctx, "hot", load)
				return err
			})
		}},
		{"otter", func(b *testing.B) int64 {
			c := otter.Must(&otter.Options[string, model.Grant]{ExpiryCalculator: otter.ExpiryWriting[string, model.Grant](time.Hour)})
			return storm(b, func(load func(context.Context, string) (model.Grant, error)) error {
				_, err := c.Get(ctx, "hot", otter.LoaderFunc[string, model.Grant](load))
				return err
			})
		}},
		{"ttlcache", func(b *testing.B) int64 {
			var fn func(context.Context, string) (model.Grant, error)
			var mu sync.Mutex
			loader := ttlcache.LoaderFunc[string, model.Grant](func(c *ttlcache.Cache[string, model.Grant], key string) *ttlcache.Item[string, model.Grant] {
				mu.Lock()
				f := fn
				mu.Unlock()
				v, err := f(ctx, key)
				if err != nil {
					return nil
				}
				return c.Set(key, v, ttlcache.DefaultTTL)
			})
			c := ttlcache.New(ttlcache.WithTTL[string, model.Grant](time.Hour),
				ttlcache.WithLoader[string, model.Grant](ttlcache.NewSuppressedLoader[string, model.Grant](loader, nil)))
			return storm(b, func(load func(context.Context, string) (model.Grant, error)) error {
				mu.Lock()
				fn = load
				mu.Unlock()
				if c.Get("hot") == nil {
					return fmt.Errorf("ttlcache: no value")
				}
				return nil
			})
		}},
	}
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			var loads int64
			for b.Loop() {
				loads += c.run(b)
			}
			b.ReportMetric(float64(loads)/float64(b.N), "loads/op")
		})
	}
}

// BenchmarkReadThroughHit: Gets that hit, on a store with a loader
// (WithLoader) and on a plain one, rotated in slices of 100,000 Gets
// (package internal/rotate), one round per b.N: run it with -benchtime 40x.
// ratio-through/plain is the median over the rounds of with-loader / plain,
// ratio-p25 and ratio-p75 its quartiles.
func BenchmarkReadThroughHit(b *testing.B) {
	ctx := context.Background()
	load := func(context.Context, string) (model.Grant, error) { return model.Grant{}, nil }
	plain, err := model.NewGrantStore()
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	through, err := model.NewGrantStore(livedict.WithLoader(load))
	if err != nil {
		b.Fatal(err)
	}
	defer through.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		_ = plain.Set(ctx, keys[i], model.Grant{Scope: uint32(i)})
		_ = through.Set(ctx, keys[i], model.Grant{Scope: uint32(i)})
	}
	const gets = 100_000
	slice := func(s *model.GrantStore) func(int) {
		return func(int) {
			for i := range gets {
				if _, ok, _ := s.Get(ctx, keys[i%len(keys)]); !ok {
					b.Fatal("miss")
				}
			}
		}
	}
	rotate.Bench(b,
		rotate.Contender{Name: "plain", Ops: gets, Slice: slice(plain)},
		rotate.Contender{Name: "through", Ops: gets, Slice: slice(through)})
}
