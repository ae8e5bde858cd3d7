package engine

import (
	"context"
	"sync"
	"testing"
)

// TestStatsCountEveryOperation: the striped counters lose no add when many
// goroutines count at once, some from deep stacks that have grown (and
// moved) since their last add.
func TestStatsCountEveryOperation(t *testing.T) {
	s, err := New(testCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 32, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := "k"
				if i%4 == 0 {
					key = "missing"
				}
				// Every other goroutine reads from a deeper stack at times.
				read := func() {
					if _, _, err := s.Get(ctx, key); err != nil {
						t.Error(err)
					}
				}
				if g%2 == 1 && i%100 == 0 {
					deep(64, read)
				} else {
					read()
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	wantMisses := uint64(goroutines * each / 4)
	if st.Hits != goroutines*each-wantMisses || st.Misses != wantMisses || st.Sets != 1 {
		t.Fatalf("Stats = %d hits, %d misses, %d sets; want %d, %d, 1", st.Hits, st.Misses, st.Sets, goroutines*each-wantMisses, wantMisses)
	}
}

// deep calls fn from n frames further down the stack, each with room of
// its own (read back, so that the compiler keeps it), so that the stack
// grows.
func deep(n int, fn func()) byte {
	var room [256]byte
	room[n%len(room)] = byte(n)
	if n == 0 {
		fn()
		return room[0]
	}
	return deep(n-1, fn) + room[(n*7)%len(room)]
}
