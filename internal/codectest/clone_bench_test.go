package codectest

import (
	"context"
	"strconv"
	"testing"
	"time"

	ldruntime "github.com/livedict/livedict/runtime"
)

// BenchmarkMemoryClone measures what dropping the monotonic reading costs
// the memory backend: Plain holds no references but a time.Time, so its
// store now copies values with the generated clone ("clone") where it used
// to assign them ("assign", the codec without Clone):
//
//	go test ./internal/codectest -run '^$' -bench MemoryClone -benchmem
func BenchmarkMemoryClone(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	v := Plain{X: 1, Y: 2, Color: Color{R: 9}, At: time.Now(), Ver: Version{Major: 1}}
	assign := livedictCodecPlain
	assign.Clone = nil
	for _, c := range []struct {
		name  string
		codec ldruntime.Codec[string, Plain]
	}{{"assign", assign}, {"clone", livedictCodecPlain}} {
		s, err := ldruntime.New(c.codec)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, k := range keys {
			if err := s.Set(ctx, k, v); err != nil {
				b.Fatal(err)
			}
		}
		for _, op := range []string{"get", "set"} {
			b.Run(op+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						k := keys[i%len(keys)]
						i++
						if op == "get" {
							if _, _, err := s.Get(ctx, k); err != nil {
								b.Error(err)
								return
							}
						} else if err := s.Set(ctx, k, v); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
		s.Close()
	}
}
