// Package livedictprom exports the Stats of livedict stores as Prometheus
// metrics. It is a module of its own, so that a program that does not use
// Prometheus never depends on its client library through livedict.
//
//	c := livedictprom.NewCollector()
//	c.Add("sessions", sessions) // any store: it has Stats()
//	prometheus.MustRegister(c)
//
// Every metric has a store label, the name given to Add. Counters:
// livedict_hits_total, livedict_misses_total, livedict_sets_total,
// livedict_deletes_total, livedict_expired_total, livedict_evicted_total,
// livedict_expired_dropped_total, livedict_loads_total,
// livedict_load_errors_total, livedict_load_seconds_total,
// livedict_refreshes_total, and of the hook pool
// livedict_hook_calls_total, livedict_hook_completed_total,
// livedict_hook_panics_total, livedict_hook_timeouts_total,
// livedict_hook_dropped_total, livedict_hook_skipped_total,
// livedict_hook_trips_total. Gauges: livedict_hit_ratio,
// livedict_hook_queued, livedict_hook_runaway. A histogram per hook,
// livedict_hook_duration_seconds, with the labels hook (its HookName) and
// event (OnSet, OnGet, ...).
package livedictprom

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedict/livedict"
)

// StatsSource is what Add takes: every generated store has Stats.
type StatsSource interface {
	Stats() livedict.Stats
}

// Collector is a prometheus.Collector of the stores added to it. It reads
// their Stats at each scrape. It is safe for concurrent use.
type Collector struct {
	mu     sync.Mutex
	stores map[string]StatsSource
}

// NewCollector returns a collector of no store.
func NewCollector() *Collector { return &Collector{stores: map[string]StatsSource{}} }

// Add exports s under the label store=name; a name given again replaces
// the store it named.
func (c *Collector) Add(name string, s StatsSource) {
	c.mu.Lock()
	c.stores[name] = s
	c.mu.Unlock()
}

// Remove stops exporting the store called name (before it closes, say).
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.stores, name)
	c.mu.Unlock()
}

type counter struct {
	desc *prometheus.Desc
	val  func(livedict.Stats) float64
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("livedict_"+name, help, []string{"store"}, nil)
}

var (
	counters = []counter{
		{desc("hits_total", "Gets that found a live value."), func(s livedict.Stats) float64 { return float64(s.Hits) }},
		{desc("misses_total", "Gets that found none."), func(s livedict.Stats) float64 { return float64(s.Misses) }},
		{desc("sets_total", "Values written (Set, Update, loads)."), func(s livedict.Stats) float64 { return float64(s.Sets) }},
		{desc("deletes_total", "Values removed (Delete, Update)."), func(s livedict.Stats) float64 { return float64(s.Deletes) }},
		{desc("expired_total", "Keys this process swept after their deadline."), func(s livedict.Stats) float64 { return float64(s.Expired) }},
		{desc("evicted_total", "Keys the key limit pushed out."), func(s livedict.Stats) float64 { return float64(s.Evicted) }},
		{desc("expired_dropped_total", "Expiry events dropped by the retention limit, unheard."), func(s livedict.Stats) float64 { return float64(s.ExpiredDropped) }},
		{desc("loads_total", "Calls of a loader (GetOrLoad, WithLoader)."), func(s livedict.Stats) float64 { return float64(s.Loads) }},
		{desc("load_errors_total", "Loader calls that failed."), func(s livedict.Stats) float64 { return float64(s.LoadErrors) }},
		{desc("load_seconds_total", "Time spent in loader calls."), func(s livedict.Stats) float64 { return s.LoadTime.Seconds() }},
		{desc("refreshes_total", "Loads that refreshed a key ahead of its deadline."), func(s livedict.Stats) float64 { return float64(s.Refreshes) }},
		{desc("hook_calls_total", "Hook calls queued, dropped, skipped or run inline."), func(s livedict.Stats) float64 { return float64(s.Hooks.Submitted) }},
		{desc("hook_completed_total", "Hook calls that returned in time without panicking."), func(s livedict.Stats) float64 { return float64(s.Hooks.Completed) }},
		{desc("hook_panics_total", "Hook calls that panicked."), func(s livedict.Stats) float64 { return float64(s.Hooks.Panics) }},
		{desc("hook_timeouts_total", "Hook calls that overran their timeout."), func(s livedict.Stats) float64 { return float64(s.Hooks.Timeouts) }},
		{desc("hook_dropped_total", "Hook calls dropped because a queue was full."), func(s livedict.Stats) float64 { return float64(s.Hooks.Dropped) }},
		{desc("hook_skipped_total", "Hook calls not run: the hook was disabled or switched off."), func(s livedict.Stats) float64 { return float64(s.Hooks.Skipped) }},
		{desc("hook_trips_total", "Times the circuit breaker switched a hook off."), func(s livedict.Stats) float64 { return float64(s.Hooks.Tripped) }},
	}
	gauges = []counter{
		{desc("hit_ratio", "Hits / (hits + misses) since the store opened."), livedict.Stats.HitRatio},
		{desc("hook_queued", "Hook calls waiting in queues."), func(s livedict.Stats) float64 { return float64(s.Hooks.Queued) }},
		{desc("hook_runaway", "Hook goroutines still running past their timeout."), func(s livedict.Stats) float64 { return float64(s.Hooks.Runaway) }},
	}
	hookDuration = prometheus.NewDesc("livedict_hook_duration_seconds", "How long a hook's calls took (those that returned).",
		[]string{"store", "hook", "event"}, nil)
	// bounds are the histogram's bucket bounds in seconds.
	bounds = func() []float64 {
		var out []float64
		for _, b := range livedict.LatencyBounds() {
			out = append(out, b.Seconds())
		}
		return out
	}()
)

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range counters {
		ch <- m.desc
	}
	for _, m := range gauges {
		ch <- m.desc
	}
	ch <- hookDuration
}

// Collect reads the Stats of each store and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	names := make([]string, 0, len(c.stores))
	for n := range c.stores {
		names = append(names, n)
	}
	stores := make([]StatsSource, len(names))
	sort.Strings(names)
	for i, n := range names {
		stores[i] = c.stores[n]
	}
	c.mu.Unlock()
	for i, s := range stores {
		st := s.Stats()
		name := names[i]
		for _, m := range counters {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.val(st), name)
		}
		for _, m := range gauges {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.val(st), name)
		}
		for _, h := range st.HookLatency {
			ch <- prometheus.MustNewConstHistogram(hookDuration, h.Count, h.Sum.Seconds(), cumulative(h.Buckets), name, h.Name, h.Event)
		}
	}
}

// cumulative turns a hook's bucket counts into Prometheus' cumulative
// ones (the last bucket, past every bound, is the count itself).
func cumulative(buckets []uint64) map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var sum uint64
	for i, b := range bounds {
		sum += buckets[i]
		out[b] = sum
	}
	return out
}
