package throughput

import "sync/atomic"

// countSum adds the counts of the goroutines once each has finished, so that
// counting costs nothing inside the timed loop.
type countSum struct{ n atomic.Int64 }

func (c *countSum) add(n int64) { c.n.Add(n) }
func (c *countSum) load() int64 { return c.n.Load() }
