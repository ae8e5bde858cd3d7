package memory

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/livedict/livedict/backend"
)

// TestHeapRandom drives a bucket with random writes, deletes and sweeps, and
// checks after each step that the heap is a heap, that every entry is filed
// no later than its node's deadline and knows its index, and that a sweep
// expires exactly the keys that are due.
func TestHeapRandom(t *testing.T) {
	ctx := context.Background()
	cfg, err := backend.BucketConfig{Name: "h"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket[int, int](cfg, nil)
	r := rand.New(rand.NewPCG(1, 2))
	want := map[int]int64{} // key -> deadline (0: none)
	now := int64(1000)
	for step := range 20000 {
		k := r.IntN(300)
		switch op := r.IntN(10); {
		case op < 6:
			d := int64(0)
			if r.IntN(5) > 0 {
				d = now + 1 + r.Int64N(500)
			}
			if _, err := b.Put(ctx, k, backend.Write[int]{Value: k, Deadline: d}, now); err != nil {
				t.Fatal(err)
			}
			want[k] = d
		case op < 8:
			if _, _, err := b.Delete(ctx, k, now); err != nil {
				t.Fatal(err)
			}
			// An expired key stays until the sweep takes it.
			if d, ok := want[k]; ok && (d == 0 || d > now) {
				delete(want, k)
			}
		default:
			now += r.Int64N(100)
			if _, err := b.SweepExpired(ctx, now, 1<<30); err != nil {
				t.Fatal(err)
			}
			for k, d := range want {
				if d != 0 && d <= now {
					delete(want, k)
				}
			}
		}
		n, _ := b.Len(ctx, now)
		live := 0
		for _, d := range want {
			if d == 0 || d > now {
				live++
			}
		}
		if n != live {
			t.Fatalf("step %d: Len %d, want %d", step, n, live)
		}
		for i := range b.shards {
			s := &b.shards[i]
			for j, e := range s.heap {
				if e.n.heapIdx != j || e.at > e.n.deadline || e.n.deadline == 0 {
					t.Fatalf("step %d: entry %d: at %d, deadline %d, index %d", step, j, e.at, e.n.deadline, e.n.heapIdx)
				}
				if p := (j - 1) / 4; j > 0 && s.heap[p].at > e.at {
					t.Fatalf("step %d: entry %d filed before its parent", step, j)
				}
			}
			for k, n := range s.m {
				if w, ok := want[k]; !ok || w != n.deadline {
					t.Fatalf("step %d: key %d has deadline %d, want %d (present %v)", step, k, n.deadline, w, ok)
				}
			}
		}
	}
}
