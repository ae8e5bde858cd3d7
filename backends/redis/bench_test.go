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
//     the entry, takes a version from a counter and writes the hash, and
//     indexes the key when it is new or its deadline moved (plain SET does
//     none of that), all in one round trip.
//   - Get: Store.Get of those keys (an HMGET of value, deadline and version,
//     and a decode), versus a plain GET; also in parallel, where the
//     backend pipelines what concurrent callers queue.
//   - SetBatch100: 100 Store.Async().Set calls waited for together, versus
//     a go-redis pipeline of 100 SETs. The async Sets run on the store's
//     workers and the backend pipelines whatever queues meanwhile, so they
//     cost a few round trips, not 100; and one Store.SetMany of 100 keys
//     (one script call per shard, each running that shard's writes). The
//     metric ns/set divides by 100.
//
//   - Rotated: the store and plain commands in turn, over many short
//     rounds in one process, reporting median ratios with their quartiles
//     (see rotate): Get against GET, HGET, the HMGET of an entry and the
//     bucket's own Get; Set (with and without a TTL) against SET; SetMany
//     of 100 keys and 100 Async Sets against one pipeline of 100 SETs.
//   - ServerCost: what the backend's commands cost Redis itself, from INFO
//     commandstats, per call and per key.
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
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict/internal/benchrot"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
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

// contender and rotate are benchrot's, under the names this file uses.
type contender = benchrot.Contender

func rotate(b *testing.B, cs ...contender) { benchrot.Rotate(b, cs...) }

// BenchmarkRotated compares the store with plain go-redis commands on one
// server, rotated in one process (see rotate): Get against a plain GET
// and HGET of the same value, Set against a plain SET, SetMany of 100 keys
// (and 100 Async Sets waited for together) against one pipeline of 100
// SETs. Run it with a fixed number of rounds:
//
//	go test -run '^$' -bench Rotated -benchtime 200x ./backends/redis
func BenchmarkRotated(b *testing.B) {
	url := benchServer(b)
	keys := conformance.BenchKeys(benchKeys)
	const singles = 200 // single operations per slice
	single := func(name string, op func(n int) error) contender {
		return contender{Name: name, Ops: singles, Slice: func(r int) {
			for i := range singles {
				if err := op((r+1)*singles + i); err != nil {
					b.Fatal(err)
				}
			}
		}}
	}
	const batch, batches = 100, 4 // batches of 100 per slice
	batched := func(name string, run func(offset int) error) contender {
		return contender{Name: name, Ops: batches * batch, Slice: func(r int) {
			for i := range batches {
				if err := run(((r+1)*batches + i) * batch); err != nil {
					b.Fatal(err)
				}
			}
		}}
	}
	b.Run("Get", func(b *testing.B) {
		s := benchStore(b, url)
		c, plain := plainRedis(b, url)
		hkeys := make([]string, len(plain))
		pipe := c.Pipeline()
		for i, k := range plain {
			hkeys[i] = k + ":h"
			pipe.HSet(bg, hkeys[i], "v", benchValue)
		}
		if _, err := pipe.Exec(bg); err != nil {
			b.Fatal(err)
		}
		// The backend's own bucket, below the store, and the HMGET its
		// Get sends, on entries it wrote.
		be := newBackend(b, newClient(b, url))
		bk, err := be.Bucket(bg, backend.BucketConfig{Name: "rotated"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bk.Close() })
		now := time.Now().UnixMilli()
		eks := make([]string, len(keys))
		for i, k := range keys {
			if _, err := bk.Put(bg, k, backend.Write[[]byte]{Value: []byte(benchValue)}, now); err != nil {
				b.Fatal(err)
			}
			if eks[i], err = redis.EntryKey(bg, be, "rotated", k); err != nil {
				b.Fatal(err)
			}
		}
		rotate(b,
			single("GET", func(n int) error { return c.Get(bg, plain[n%benchKeys]).Err() }),
			single("HGET", func(n int) error { return c.HGet(bg, hkeys[n%benchKeys], "v").Err() }),
			single("HMGET", func(n int) error { return c.HMGet(bg, eks[n%benchKeys], "v", "d", "n", "i").Err() }),
			single("bucket", func(n int) error {
				_, ok, err := bk.Get(bg, keys[n%benchKeys], now)
				if !ok && err == nil {
					err = fmt.Errorf("Get(%s) found nothing", keys[n%benchKeys])
				}
				return err
			}),
			single("livedict", func(n int) error {
				_, ok, err := s.Get(bg, keys[n%benchKeys])
				if !ok && err == nil {
					err = fmt.Errorf("Get(%s) found nothing", keys[n%benchKeys])
				}
				return err
			}))
	})
	b.Run("Set", func(b *testing.B) {
		s := benchStore(b, url)
		c, plain := plainRedis(b, url)
		bk, err := newBackend(b, newClient(b, url)).Bucket(bg, backend.BucketConfig{Name: "rotated"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bk.Close() })
		value := []byte(benchValue)
		now := time.Now().UnixMilli()
		rotate(b,
			single("SET", func(n int) error { return c.Set(bg, plain[n%benchKeys], benchValue, 0).Err() }),
			// The least a script that writes an entry does: take a version,
			// read the entry's fields, write the hash; with as many
			// arguments as a Put sends.
			single("floor", func(n int) error {
				return floorScript.Run(bg, c, []string{"floor:{x}:idx"}, "floor:{x}", 0, 0, 86400000, "livedict",
					plain[n%benchKeys]+":h", benchValue, 0, 0, now, 0, 0, "").Err()
			}),
			single("bucket", func(n int) error {
				_, err := bk.Put(bg, keys[n%benchKeys], backend.Write[[]byte]{Value: value}, now)
				return err
			}),
			single("livedict", func(n int) error { return s.Set(bg, keys[n%benchKeys], benchValue) }),
			single("livedict-ttl", func(n int) error { return s.Set(bg, keys[n%benchKeys], benchValue, livedict.TTL(time.Hour)) }))
	})
	b.Run("SetMany100", func(b *testing.B) {
		s := benchStore(b, url)
		a := s.Async()
		c, plain := plainRedis(b, url)
		items := make(map[string]string, batch)
		now := time.Now().UnixMilli()
		// A pipeline cannot fall back from EVALSHA to EVAL.
		if err := floorBatchScript.Load(bg, c).Err(); err != nil {
			b.Fatal(err)
		}
		futs := make([]*livedict.Future[struct{}], batch)
		rotate(b,
			batched("pipeline", func(off int) error {
				pipe := c.Pipeline()
				for j := range batch {
					pipe.Set(bg, plain[(off+j)%benchKeys], benchValue, 0)
				}
				_, err := pipe.Exec(bg)
				return err
			}),
			// The floor's scripts, one per shard as SetMany sends them,
			// with as many arguments per key as a Put.
			batched("floor", func(off int) error {
				pipe := c.Pipeline()
				for sh := range floorShards {
					args := []any{"floor:{x}"}
					for j := sh; j < batch; j += floorShards {
						args = append(args, plain[(off+j)%benchKeys]+":h", benchValue, 0, 0, now, 0, 0, "")
					}
					floorBatchScript.Run(bg, pipe, []string{"floor:{x}:idx"}, args...)
				}
				_, err := pipe.Exec(bg)
				return err
			}),
			batched("SetMany", func(off int) error {
				clear(items)
				for j := range batch {
					items[keys[(off+j)%benchKeys]] = benchValue
				}
				return s.SetMany(bg, items)
			}),
			batched("async", func(off int) error {
				for j := range futs {
					futs[j] = a.Set(bg, keys[(off+j)%benchKeys], benchValue)
				}
				for _, f := range futs {
					if _, err := f.Wait(bg); err != nil {
						return err
					}
				}
				return nil
			}))
	})
}

// floorScript is the floor of a script that writes an entry, for
// BenchmarkRotated: a version, a read of the entry's fields, the write of
// the hash.
var floorScript = goredis.NewScript(`
local v = redis.call('INCRBY', ARGV[1] .. ':seq', 1)
local cur = redis.pcall('HMGET', ARGV[6], 'd', 'n', 'i')
redis.call('HSET', ARGV[6], 'v', ARGV[7], 'n', v)
return {0}
`)

// floorBatchScript is floorScript for the keys of one shard in one call,
// as the put script takes them (8 arguments per key): one version counter
// read, and per key a read of its fields and the write of its hash.
var floorBatchScript = goredis.NewScript(`
local n = (#ARGV - 1) / 8
local v = redis.call('INCRBY', ARGV[1] .. ':seq', n) - n
for a = 2, #ARGV, 8 do
	v = v + 1
	local cur = redis.pcall('HMGET', ARGV[a], 'd', 'n', 'i')
	redis.call('HSET', ARGV[a], 'v', ARGV[a + 1], 'n', v)
end
return {0}
`)

// floorShards is the number of script calls a batch of SetMany makes at
// most: one per shard of the bucket.
const floorShards = redis.DefaultShards

// BenchmarkServerCost reports what the backend's commands cost the server
// itself, from INFO commandstats (usec_per_call, after CONFIG RESETSTAT):
// the Lua scripts of Put (of a key that exists, with the same and with a
// moved deadline, and of new keys), of PutMany of 100 keys (per key),
// Delete, and the HMGET of Get. Only the measured calls run meanwhile:
// the bucket is used below any store, so no poller sends commands.
//
//	go test -run '^$' -bench ServerCost -benchtime 2000x ./backends/redis
func BenchmarkServerCost(b *testing.B) {
	url := benchServer(b)
	c := newClient(b, url)
	bk, err := newBackend(b, newClient(b, url)).Bucket(bg, backend.BucketConfig{Name: "cost"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bk.Close() })
	bm := bk.(backend.Batcher[string, []byte])
	keys := conformance.BenchKeys(benchKeys)
	value := []byte(benchValue)
	base := time.Now().UnixMilli()
	for _, k := range keys {
		if _, err := bk.Put(bg, k, backend.Write[[]byte]{Value: value, Deadline: base + 3_600_000}, base); err != nil {
			b.Fatal(err)
		}
	}
	// stats returns usec and calls by command since the last reset.
	stats := func(b *testing.B) map[string][2]float64 {
		info, err := c.Info(bg, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		out := make(map[string][2]float64)
		for _, line := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			var calls, usec float64
			for _, f := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "calls":
					calls, _ = strconv.ParseFloat(v, 64)
				case "usec":
					usec, _ = strconv.ParseFloat(v, 64)
				}
			}
			out[strings.TrimPrefix(name, "cmdstat_")] = [2]float64{usec, calls}
		}
		return out
	}
	// measure runs op b.N times and reports the server's microseconds per
	// call of cmd, and per unit when op runs units of work per call.
	measure := func(name, cmd string, units int, op func(b *testing.B, i int)) {
		b.Run(name, func(b *testing.B) {
			op(b, -1)
			if err := c.ConfigResetStat(bg).Err(); err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				op(b, i)
			}
			all := stats(b)
			if testing.Verbose() {
				for name, st := range all {
					b.Logf("%s: %.0f calls, %.2f us/call", name, st[1], st[0]/st[1])
				}
			}
			st := all[cmd]
			if st[1] == 0 {
				b.Fatalf("no calls of %s", cmd)
			}
			b.ReportMetric(st[0]/st[1], "us/call")
			b.ReportMetric(st[0]/float64(b.N*units), "us/key")
			b.ReportMetric(st[1]/float64(b.N), "calls/op")
		})
	}
	put := func(deadline func(i int) int64) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			if _, err := bk.Put(bg, keys[(i+benchKeys)%benchKeys], backend.Write[[]byte]{Value: value, Deadline: deadline(i)}, base); err != nil {
				b.Fatal(err)
			}
		}
	}
	measure("PutSameDeadline", "evalsha", 1, put(func(int) int64 { return base + 3_600_000 }))
	measure("PutNewDeadline", "evalsha", 1, put(func(i int) int64 { return base + 3_600_000 + int64(i) + 2 }))
	measure("PutNoDeadline", "evalsha", 1, put(func(int) int64 { return 0 }))
	run := 0
	measure("PutNewKey", "evalsha", 1, func(b *testing.B, i int) {
		run++
		k := fmt.Sprintf("new-%d-%d", run, i)
		if _, err := bk.Put(bg, k, backend.Write[[]byte]{Value: value, Deadline: base + 3_600_000}, base); err != nil {
			b.Fatal(err)
		}
	})
	measure("Get", "hmget", 1, func(b *testing.B, i int) {
		if _, ok, err := bk.Get(bg, keys[(i+benchKeys)%benchKeys], base); err != nil || !ok {
			b.Fatal(ok, err)
		}
	})
	const batch = 100
	ws := make([]backend.KeyWrite[string, []byte], batch)
	measure("PutMany100", "evalsha", batch, func(b *testing.B, i int) {
		for j := range ws {
			ws[j] = backend.KeyWrite[string, []byte]{Key: keys[((i+1)*batch+j)%benchKeys], Write: backend.Write[[]byte]{Value: value, Deadline: base + 3_600_000}}
		}
		res, err := bm.PutMany(bg, ws, base)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	})
	measure("GetMany100", "hmget", batch, func(b *testing.B, i int) {
		ks := keys[(i+1)*batch%benchKeys:][:batch]
		if _, err := bm.GetMany(bg, ks, base); err != nil {
			b.Fatal(err)
		}
	})
	plain, plainKeys := plainRedis(b, url)
	measure("PlainPipeline100", "set", batch, func(b *testing.B, i int) {
		pipe := plain.Pipeline()
		for j := range batch {
			pipe.Set(bg, plainKeys[((i+1)*batch+j)%benchKeys], benchValue, 0)
		}
		if _, err := pipe.Exec(bg); err != nil {
			b.Fatal(err)
		}
	})
	// 100 Async Sets waited for together: calls/op tells how many script
	// calls carried them.
	s := benchStore(b, url)
	a := s.Async()
	futs := make([]*livedict.Future[struct{}], batch)
	measure("Async100", "evalsha", batch, func(b *testing.B, i int) {
		for j := range futs {
			futs[j] = a.Set(bg, keys[((i+1)*batch+j)%benchKeys], benchValue)
		}
		for _, f := range futs {
			if _, err := f.Wait(bg); err != nil {
				b.Fatal(err)
			}
		}
	})
	measure("DeleteThenPut", "evalsha", 2, func(b *testing.B, i int) {
		k := keys[(i+benchKeys)%benchKeys]
		if _, ok, err := bk.Delete(bg, k, base); err != nil || !ok {
			b.Fatal(ok, err)
		}
		if _, err := bk.Put(bg, k, backend.Write[[]byte]{Value: value, Deadline: base + 3_600_000}, base); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkScriptCost compares what the put and delete scripts cost Redis
// itself, before (oldscripts_test.go) and now, rotated in one process on
// one server: each round runs a slice of calls of every contender, after
// CONFIG RESETSTAT, and reads the server's microseconds of EVALSHA from
// INFO commandstats. It reports, per contender, the median over the rounds
// of the server's time per write (us/write-NAME), and the median ratio of
// the new script to the old with its quartiles (ratio-new/old-...). The
// scenarios: Put of a key that exists, keeping its deadline (none) and
// moving it (a TTL); Put of a new key; 16 Puts of one shard (16 calls
// before, one now); Delete and 16 Deletes of one shard (each slice puts
// the keys back first, outside the measure).
//
//	go test -run '^$' -bench ScriptCost -benchtime 40x ./backends/redis
func BenchmarkScriptCost(b *testing.B) {
	url := benchServer(b)
	c := newClient(b, url)
	value := benchValue
	now := time.Now().UnixMilli()
	const reclaimMs = int64(24 * time.Hour / time.Millisecond)
	// oldArgs and newArgs are the arguments of a put by the old and new
	// scripts: no flags, no limit.
	oldPutCall := func(tag, key string, deadline int64) error {
		return oldPut.Run(bg, c, []string{tag + ":idx"}, tag, key, value, deadline, "0", "0", 0, now, 0, "0", reclaimMs, "0", "", "livedict", 0).Err()
	}
	newPutCall := func(tag string, keys []string, deadline func(i int) int64) error {
		args := []any{tag, 0, "0", reclaimMs, "livedict"}
		for i, k := range keys {
			args = append(args, k, value, deadline(i), 0, now, 0, 0, "")
		}
		return redis.PutScript.Run(bg, c, []string{tag + ":idx"}, args...).Err()
	}
	oldDeleteCall := func(tag, key string) error {
		return oldDelete.Run(bg, c, []string{tag + ":idx"}, tag, key, now, 0).Err()
	}
	newDeleteCall := func(tag string, keys []string) error {
		args := []any{tag}
		for _, k := range keys {
			args = append(args, k, now, 0)
		}
		return redis.DeleteScript.Run(bg, c, []string{tag + ":idx"}, args...).Err()
	}
	keys16 := make([]string, 16)
	for i := range keys16 {
		keys16[i] = "k" + strconv.Itoa(i)
	}
	const calls = 200 // writes per slice
	type side struct {
		prepare func(round int) error // outside the measure
		run     func(round int) error // calls writes
	}
	var seq int
	scenarios := []struct {
		name     string
		old, new side
	}{
		{"PutSameDeadline",
			side{nil, func(int) error { return oldPutCall("old:{s1}", "k", 0) }},
			side{nil, func(int) error { return newPutCall("new:{s1}", keys16[:1], func(int) int64 { return 0 }) }}},
		{"PutNewDeadline",
			side{nil, func(int) error { seq++; return oldPutCall("old:{s2}", "k", now+3_600_000+int64(seq)) }},
			side{nil, func(int) error {
				seq++
				return newPutCall("new:{s2}", keys16[:1], func(int) int64 { return now + 3_600_000 + int64(seq) })
			}}},
		{"PutNewKey",
			side{nil, func(int) error { seq++; return oldPutCall("old:{s3}", "n"+strconv.Itoa(seq), now+3_600_000) }},
			side{nil, func(int) error {
				seq++
				return newPutCall("new:{s3}", []string{"n" + strconv.Itoa(seq)}, func(int) int64 { return now + 3_600_000 })
			}}},
		{"Put16",
			side{nil, func(int) error {
				for _, k := range keys16 {
					if err := oldPutCall("old:{s4}", k, 0); err != nil {
						return err
					}
				}
				return nil
			}},
			side{nil, func(int) error { return newPutCall("new:{s4}", keys16, func(int) int64 { return 0 }) }}},
		{"Delete",
			side{func(int) error { return oldPutCall("old:{s5}", "k", 0) }, func(int) error { return oldDeleteCall("old:{s5}", "k") }},
			side{func(int) error { return oldPutCall("new:{s5}", "k", 0) }, func(int) error { return newDeleteCall("new:{s5}", keys16[:1]) }}},
		{"Delete16",
			side{func(int) error { return newPutCall("old:{s6}", keys16, func(int) int64 { return 0 }) }, func(int) error {
				for _, k := range keys16 {
					if err := oldDeleteCall("old:{s6}", k); err != nil {
						return err
					}
				}
				return nil
			}},
			side{func(int) error { return newPutCall("new:{s6}", keys16, func(int) int64 { return 0 }) }, func(int) error { return newDeleteCall("new:{s6}", keys16) }}},
	}
	evalsha := func(b *testing.B) float64 {
		info, err := c.Info(bg, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
				for _, f := range strings.Split(rest, ",") {
					if v, ok := strings.CutPrefix(f, "usec="); ok {
						us, _ := strconv.ParseFloat(v, 64)
						return us
					}
				}
			}
		}
		return 0
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			writes := calls
			if strings.HasSuffix(sc.name, "16") {
				writes = calls / 16 * 16
			}
			// slice runs one side's share of a round and returns the
			// server's microseconds per write.
			slice := func(s side, round int) float64 {
				reps := calls
				if strings.HasSuffix(sc.name, "16") {
					reps = calls / 16
				}
				var us float64
				for range reps {
					if s.prepare != nil {
						if err := s.prepare(round); err != nil {
							b.Fatal(err)
						}
					}
					if err := c.ConfigResetStat(bg).Err(); err != nil {
						b.Fatal(err)
					}
					if err := s.run(round); err != nil {
						b.Fatal(err)
					}
					us += evalsha(b)
				}
				return us / float64(writes)
			}
			slice(sc.old, -1)
			slice(sc.new, -1)
			var olds, news, ratios []float64
			for r := range b.N {
				var o, n float64
				if r%2 == 0 {
					o, n = slice(sc.old, r), slice(sc.new, r)
				} else {
					n, o = slice(sc.new, r), slice(sc.old, r)
				}
				olds, news, ratios = append(olds, o), append(news, n), append(ratios, n/o)
			}
			q := func(xs []float64, p float64) float64 {
				xs = slices.Clone(xs)
				slices.Sort(xs)
				return xs[int(p*float64(len(xs)-1)+0.5)]
			}
			b.ReportMetric(q(olds, 0.5), "us/write-old")
			b.ReportMetric(q(news, 0.5), "us/write-new")
			b.ReportMetric(q(ratios, 0.5), "ratio-new/old")
			b.ReportMetric(q(ratios, 0.25), "ratio-p25-new/old")
			b.ReportMetric(q(ratios, 0.75), "ratio-p75-new/old")
		})
	}
}
