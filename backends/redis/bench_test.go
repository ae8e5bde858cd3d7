package redis_test

// Benchmarks of the Redis backend through engine.Store, side by side with
// plain go-redis commands on the same server. Run them in one go:
//
//	go test -run '^$' -bench . -benchmem ./backends/redis/
//
// Each benchmark starts its own redis-server (or uses LIVEDICT_REDIS_URL).
// A server this package starts has its append-only file switched off for
// the benchmarks: with appendfsync always, every write would wait for the
// disk and both sides would measure the disk, not the client and the
// backend. A server named by LIVEDICT_REDIS_URL is left as configured.
//
// What is compared:
//
//   - Set: Store.Set of a 100-byte string value over 1,000 keys, versus a
//     plain SET of the same value. Store.Set runs one Lua script that reads
//     the entry, takes a version from a counter, writes the hash and indexes
//     the key (plain SET does none of that), all in one round trip.
//   - Get: Store.Get of those keys (an HMGET of value, deadline and version,
//     and a decode), versus a plain GET; also in parallel, where the
//     backend pipelines what concurrent callers queue.
//   - SetBatch100: 100 Store.Async().Set calls waited for together, versus
//     a go-redis pipeline of 100 SETs. The async Sets run on the store's
//     workers and the backend pipelines whatever queues meanwhile, so they
//     cost a few round trips, not 100; and one Store.SetMany of 100 keys
//     (one pipeline of 100 scripts). The metric ns/set divides by 100.
//
//   - Touch: the bucket's own Get, Touch and Put of one key, below the
//     store (which does not call Touch yet): Touch slides the deadline on
//     every call (its now moves a millisecond per call), TouchFixed runs
//     the script on a fixed deadline it leaves alone, and Rotated runs
//     Get, Touch and Put in turn in every iteration and reports each one's
//     mean (ns/get, ns/touch, ns/put), so that whatever else the machine
//     does weighs on the three alike.
//
// A small string codec is used, so that the numbers show the store and the
// backend rather than a serializer.

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/redistest"
)

const benchKeys = 1000

var benchValue = strings.Repeat("v", 100)

// benchServer starts a server for one benchmark (its sub-benchmarks share
// it) and returns its URL.
func benchServer(b *testing.B) string {
	b.Helper()
	url, p := redistest.Server(b)
	if p != nil {
		c := newClient(b, url)
		if err := c.ConfigSet(bg, "appendonly", "no").Err(); err != nil {
			b.Fatalf("CONFIG SET appendonly no: %v", err)
		}
	}
	return url
}

// benchStore opens a store with a prefix of its own on the server at url,
// with every key set.
func benchStore(b *testing.B, url string) *engine.Store[string, string] {
	b.Helper()
	be := newBackend(b, newClient(b, url))
	s, err := engine.New(conformance.StringCodec(), livedict.WithBackend(be))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for _, k := range conformance.BenchKeys(benchKeys) {
		if err := s.Set(bg, k, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// plainRedis returns a client on the server at url and the keys of the
// plain side, under a prefix of their own, every one set.
func plainRedis(b *testing.B, url string) (*goredis.Client, []string) {
	b.Helper()
	c := newClient(b, url)
	prefix := uniquePrefix()
	keys := conformance.BenchKeys(benchKeys)
	pipe := c.Pipeline()
	for i, k := range keys {
		keys[i] = prefix + ":" + k
		pipe.Set(bg, keys[i], benchValue, 0)
	}
	if _, err := pipe.Exec(bg); err != nil {
		b.Fatal(err)
	}
	return c, keys
}

func BenchmarkSet(b *testing.B) {
	url := benchServer(b)
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict", func(b *testing.B) {
		s := benchStore(b, url)
		b.ResetTimer()
		for i := range b.N {
			if err := s.Set(bg, keys[i%benchKeys], benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis", func(b *testing.B) {
		c, keys := plainRedis(b, url)
		b.ResetTimer()
		for i := range b.N {
			if err := c.Set(bg, keys[i%benchKeys], benchValue, 0).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	url := benchServer(b)
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict", func(b *testing.B) {
		s := benchStore(b, url)
		b.ResetTimer()
		for i := range b.N {
			if _, ok, err := s.Get(bg, keys[i%benchKeys]); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("redis", func(b *testing.B) {
		c, keys := plainRedis(b, url)
		b.ResetTimer()
		for i := range b.N {
			if err := c.Get(bg, keys[i%benchKeys]).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("livedict-parallel", func(b *testing.B) {
		s := benchStore(b, url)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, ok, err := s.Get(bg, keys[i%benchKeys]); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
	b.Run("redis-parallel", func(b *testing.B) {
		c, keys := plainRedis(b, url)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := c.Get(bg, keys[i%benchKeys]).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkSetBatch100(b *testing.B) {
	const batch = 100
	url := benchServer(b)
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict-async", func(b *testing.B) {
		s := benchStore(b, url)
		a := s.Async()
		futs := make([]*livedict.Future[struct{}], batch)
		b.ResetTimer()
		for i := range b.N {
			for j := range futs {
				futs[j] = a.Set(bg, keys[(i*batch+j)%benchKeys], benchValue)
			}
			for _, f := range futs {
				if _, err := f.Wait(bg); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/set")
	})
	b.Run("livedict-SetMany", func(b *testing.B) {
		s := benchStore(b, url)
		items := make(map[string]string, batch)
		b.ResetTimer()
		for i := range b.N {
			clear(items)
			for j := range batch {
				items[keys[(i*batch+j)%benchKeys]] = benchValue
			}
			if err := s.SetMany(bg, items); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/set")
	})
	b.Run("redis-pipeline", func(b *testing.B) {
		c, keys := plainRedis(b, url)
		b.ResetTimer()
		for i := range b.N {
			pipe := c.Pipeline()
			for j := range batch {
				pipe.Set(bg, keys[(i*batch+j)%benchKeys], benchValue, 0)
			}
			if _, err := pipe.Exec(bg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/set")
	})
}

func BenchmarkTouch(b *testing.B) {
	url := benchServer(b)
	bk, err := newBackend(b, newClient(b, url)).Bucket(bg, backend.BucketConfig{Name: "touch"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bk.Close() })
	const idle = int64(time.Hour / time.Millisecond)
	value := []byte(benchValue)
	base := time.Now().UnixMilli()
	sliding := backend.Write[[]byte]{Value: value, Deadline: base + idle, Idle: idle}
	for k, w := range map[string]backend.Write[[]byte]{"sliding": sliding, "fixed": {Value: value, Deadline: base + idle}} {
		if _, err := bk.Put(bg, k, w, base); err != nil {
			b.Fatal(err)
		}
	}
	// now moves a millisecond per call, so that every Touch of the
	// sliding key slides it; the keys live an hour of such calls.
	var clock int64
	now := func() int64 { clock++; return base + clock }
	get := func(b *testing.B) {
		if _, ok, err := bk.Get(bg, "sliding", now()); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	touch := func(key string) func(*testing.B) {
		return func(b *testing.B) {
			if ok, err := bk.Touch(bg, key, now()); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	}
	set := func(b *testing.B) {
		t := now()
		w := sliding
		w.Deadline = t + idle
		if _, err := bk.Put(bg, "sliding", w, t); err != nil {
			b.Fatal(err)
		}
	}
	for _, op := range []struct {
		name string
		run  func(*testing.B)
	}{{"Get", get}, {"Touch", touch("sliding")}, {"TouchFixed", touch("fixed")}, {"Put", set}} {
		b.Run(op.name, func(b *testing.B) {
			for b.Loop() {
				op.run(b)
			}
		})
	}
	b.Run("Rotated", func(b *testing.B) {
		var spent [3]time.Duration
		ops := [3]func(*testing.B){get, touch("sliding"), set}
		for b.Loop() {
			for i, op := range ops {
				start := time.Now()
				op(b)
				spent[i] += time.Since(start)
			}
		}
		for i, unit := range []string{"ns/get", "ns/touch", "ns/put"} {
			b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), unit)
		}
	})
}
