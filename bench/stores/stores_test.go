// Package stores measures the generated Session store on a byte backend,
// where every Set encodes the value and every Get decodes it: the
// serializer in its place, rather than alone.
//
// The bench runner uses it to measure changes to that path; alone:
//
//	go test ./stores -run '^$' -bench . -benchmem
package stores

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/bench/model"
)

func BenchmarkSQLiteSession(b *testing.B) {
	ctx := context.Background()
	s, err := model.NewSessionStore(livedict.WithURI("sqlite://" + filepath.Join(b.TempDir(), "bench.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const keys = 1000
	names := make([]string, keys)
	for i := range names {
		names[i] = "session:" + strconv.Itoa(i)
		if err := s.Set(ctx, names[i], model.SampleSession(i)); err != nil {
			b.Fatal(err)
		}
	}
	v := model.SampleSession(7)
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, names[i%keys], v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, err := s.Get(ctx, names[i%keys]); err != nil || !ok {
				b.Fatal(ok, err)
			}
			i++
		}
	})
}
