package main

import (
	"runtime"
	"strconv"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/model"
)

// memoryResult is what one memory child reports.
type memoryResult struct {
	Cache    string
	Keys     int
	Held     int     // entries found after the fill (admission policies may refuse some)
	Bytes    uint64  // heap growth
	PerEntry float64 // Bytes / Held
	Error    string
}

// runMemory measures the heap a cache needs for n entries with a one-hour
// TTL. The keys exist before the baseline and are not counted: they are the
// caller's either way. The value is a 48-byte Grant whose string is the key
// itself, so what is measured is the cache's own overhead plus one value.
func runMemory(name string, n int) (res memoryResult) {
	res = memoryResult{Cache: name, Keys: n}
	spec, err := caches.Find(caches.All(caches.OpenGrant, false), name)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "grant:" + strconv.Itoa(i)
	}
	exp := time.Now().Add(time.Hour)
	before := heapAfterGC()
	c, err := spec.New(caches.Config[model.Grant]{Capacity: n, TTL: time.Hour})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	for i, k := range keys {
		c.Set(k, model.Grant{UserID: k, Scope: uint32(i), ExpiresAt: exp})
	}
	c.Settle()
	// ristretto drops writes its buffers cannot take; writing the missing
	// keys again fills it as far as its policy admits them, so that every
	// cache is measured holding (nearly) all the entries.
	for range 5 {
		missing := 0
		for i, k := range keys {
			if _, ok := c.Get(k); !ok {
				missing++
				c.Set(k, model.Grant{UserID: k, Scope: uint32(i), ExpiresAt: exp})
			}
		}
		c.Settle()
		if missing == 0 {
			break
		}
	}
	after := heapAfterGC()
	for _, k := range keys {
		if _, ok := c.Get(k); ok {
			res.Held++
		}
	}
	runtime.KeepAlive(keys)
	c.Close()
	if after > before {
		res.Bytes = after - before
	}
	if res.Held > 0 {
		res.PerEntry = float64(res.Bytes) / float64(res.Held)
	}
	return res
}

func heapAfterGC() uint64 {
	// Two cycles: finalizers queued by the first (go-cache's janitor) run
	// before the second.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
