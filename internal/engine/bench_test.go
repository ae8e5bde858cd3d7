package engine_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/engine"
)

// benchValue is a value without references, like most cached records'
// hot fields: the store's copy is a plain assignment.
type benchValue struct {
	ID    int64
	Score float64
	Flags uint32
}

const benchKeys = 1 << 16

var keys = func() []string {
	k := make([]string, benchKeys)
	for i := range k {
		k[i] = "user:" + strconv.Itoa(i)
	}
	return k
}()

// kv is the surface shared by the store and the baselines.
type kv interface {
	get(k string) (benchValue, bool)
	set(k string, v benchValue)
}

type rwMap struct {
	mu sync.RWMutex
	m  map[string]benchValue
}

func (r *rwMap) get(k string) (benchValue, bool) {
	r.mu.RLock()
	v, ok := r.m[k]
	r.mu.RUnlock()
	return v, ok
}

func (r *rwMap) set(k string, v benchValue) {
	r.mu.Lock()
	r.m[k] = v
	r.mu.Unlock()
}

type syncMap struct{ m sync.Map }

func (s *syncMap) get(k string) (benchValue, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		return benchValue{}, false
	}
	return v.(benchValue), true
}

func (s *syncMap) set(k string, v benchValue) { s.m.Store(k, v) }

type storeKV struct {
	s *engine.Store[string, benchValue]
}

func (s storeKV) get(k string) (benchValue, bool) {
	v, ok, _ := s.s.Get(context.Background(), k)
	return v, ok
}

func (s storeKV) set(k string, v benchValue) { _ = s.s.Set(context.Background(), k, v) }

func newBenchStore(b *testing.B, opts ...livedict.Option) storeKV {
	key, parse := engine.StringKey[string]()
	s, err := engine.New(engine.Codec[string, benchValue]{
		TypeName: "benchValue", Bucket: "bench", KeyString: key, ParseKey: parse,
	}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return storeKV{s}
}

// BenchmarkParallel compares the memory store with a map under a
// sync.RWMutex and a sync.Map, on the same keys and read/write mixes, in one
// run. Compare ns/op within one run only:
//
//	go test ./runtime -run '^$' -bench Parallel -benchmem -count 5
func BenchmarkParallel(b *testing.B) {
	impls := []struct {
		name string
		make func(b *testing.B) kv
	}{
		{"map+RWMutex", func(*testing.B) kv { return &rwMap{m: make(map[string]benchValue)} }},
		{"sync.Map", func(*testing.B) kv { return &syncMap{} }},
		{"livedict", func(b *testing.B) kv { return newBenchStore(b) }},
		{"livedict+ttl", func(b *testing.B) kv { return newBenchStore(b, livedict.WithDefaultTTL(3600e9)) }},
	}
	for _, reads := range []int{100, 90, 50, 0} {
		for _, impl := range impls {
			b.Run("reads="+strconv.Itoa(reads)+"%/"+impl.name, func(b *testing.B) {
				m := impl.make(b)
				for i, k := range keys {
					m.set(k, benchValue{ID: int64(i)})
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(rand.Uint64(), 1))
					for pb.Next() {
						n := r.Uint64()
						k := keys[n%benchKeys]
						if int(n>>32%100) < reads {
							m.get(k)
						} else {
							m.set(k, benchValue{ID: int64(n)})
						}
					}
				})
			})
		}
	}
}
