// Package batch measures the generated Grant store's GetMany and SetMany of
// 100 keys against 100 single Gets and Sets of the same keys on the same
// store, on memory, SQLite and Redis, by rotation in one process (package
// internal/rotate): every round runs one slice of each side, and the
// ratio is the median over the rounds of many/singles, with its
// interquartile range. Run it with a fixed number of rounds:
//
//	cd bench && go test ./batch -run '^$' -bench . -benchtime 40x
//
// The Redis rows start a redis-server of their own (redis-server must be on
// the PATH) with its append-only file switched off, as the root module's
// Redis benchmarks do, or use the server LIVEDICT_REDIS_URL names. The
// comparisons with plain database/sql and go-redis batches (one
// transaction, one pipeline) are the root module's own benchmarks.
package batch

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"
	_ "github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/bench/internal/rotate"
	"github.com/livedict/livedict/bench/model"
	"github.com/livedict/livedict/internal/redistest"
)

const (
	numKeys = 1000
	batch   = 100
)

var bg = context.Background()

// backends are the stores compared, with how many batches of 100 one slice
// runs: a slice of about 10 ms on each, longer than the time the system
// gives a process before it may switch to another.
var backends = []struct {
	name    string
	batches int
	open    func(b *testing.B) (*model.GrantStore, error)
}{
	{"memory", 500, func(*testing.B) (*model.GrantStore, error) { return model.NewGrantStore() }},
	{"sqlite", 6, func(b *testing.B) (*model.GrantStore, error) {
		return model.NewGrantStore(livedict.WithURI("sqlite://" + filepath.Join(b.TempDir(), "bench.db")))
	}},
	{"redis", 1, func(b *testing.B) (*model.GrantStore, error) {
		if _, err := exec.LookPath("redis-server"); err != nil {
			b.Skip("redis-server is not on the PATH")
		}
		url, p := redistest.Server(b)
		if p != nil {
			// As the root module's Redis benchmarks: with appendfsync
			// always every write would wait for the disk.
			opt, err := goredis.ParseURL(url)
			if err != nil {
				return nil, err
			}
			c := goredis.NewClient(opt)
			defer c.Close()
			if err := c.ConfigSet(bg, "appendonly", "no").Err(); err != nil {
				return nil, err
			}
		}
		return model.NewGrantStore(livedict.WithURI(url))
	}},
}

// BenchmarkRotated: for each backend, GetMany of 100 keys against 100 Gets,
// and SetMany of 100 keys against 100 Sets; ns/op-NAME is per key.
func BenchmarkRotated(b *testing.B) {
	keys := make([]string, numKeys)
	for i := range keys {
		keys[i] = "grant:" + strconv.Itoa(i)
	}
	value := func(i int) model.Grant {
		return model.Grant{UserID: "user-" + strconv.Itoa(i), Scope: uint32(i), ExpiresAt: time.Now().Add(time.Hour)}
	}
	// Batches of 100 keys, and the same as SetMany's maps, made beforehand
	// so that neither side pays for building its arguments.
	groups := make([][]string, numKeys/batch)
	items := make([]map[string]model.Grant, len(groups))
	for g := range groups {
		groups[g] = keys[g*batch : (g+1)*batch]
		items[g] = map[string]model.Grant{}
		for j, k := range groups[g] {
			items[g][k] = value(g*batch + j)
		}
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, err := be.open(b)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			for g := range groups {
				if err := s.SetMany(bg, items[g]); err != nil {
					b.Fatal(err)
				}
			}
			ops := be.batches * batch
			// each runs fn on the batches of one slice, the next groups of
			// keys from one round to the next.
			each := func(fn func(g int)) func(round int) {
				return func(round int) {
					for i := range be.batches {
						fn(((round+1)*be.batches + i) % len(groups))
					}
				}
			}
			b.Run("GetMany", func(b *testing.B) {
				rotate.Bench(b,
					rotate.Contender{Name: "gets", Ops: ops, Slice: each(func(g int) {
						for _, k := range groups[g] {
							if _, ok, err := s.Get(bg, k); err != nil || !ok {
								b.Fatal(k, ok, err)
							}
						}
					})},
					rotate.Contender{Name: "getmany", Ops: ops, Slice: each(func(g int) {
						rs, err := s.GetMany(bg, groups[g])
						if err != nil {
							b.Fatal(err)
						}
						for _, r := range rs {
							if !r.Found {
								b.Fatal("GetMany: a key is missing")
							}
						}
					})})
			})
			b.Run("SetMany", func(b *testing.B) {
				rotate.Bench(b,
					rotate.Contender{Name: "sets", Ops: ops, Slice: each(func(g int) {
						for k, v := range items[g] {
							if err := s.Set(bg, k, v); err != nil {
								b.Fatal(err)
							}
						}
					})},
					rotate.Contender{Name: "setmany", Ops: ops, Slice: each(func(g int) {
						if err := s.SetMany(bg, items[g]); err != nil {
							b.Fatal(err)
						}
					})})
			})
		})
	}
}
