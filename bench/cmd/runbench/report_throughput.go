package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/livedict/livedict/bench/internal/caches"
)

// readShares are the read shares of the throughput rotations, as numbers,
// in the order of readRatios.
var readShares = []int{100, 75, 50, 0}

func (r *report) throughput(res *results) {
	r.p("## Memory store throughput")
	r.p("")
	if res.ThroughputNote != "" {
		r.p("Not all measured: %s", oneLine(res.ThroughputNote))
		r.p("")
	}
	if len(res.Throughput) == 0 {
		if res.ThroughputNote == "" {
			r.p("Not run.")
			r.p("")
		}
		return
	}
	var t0 *rotation
	for _, k := range []string{rotGrant, rotSession, rotCopies} {
		if t := res.Throughput[k]; t != nil && t0 == nil {
			t0 = t
		}
	}
	r.p("The workload of otter's throughput harness: every cache is filled with 65,536 keys, then")
	r.p("%d goroutines (4 per core) read and write keys drawn from a Zipf distribution (s = 1.01) and", t0.Goroutines)
	r.p("scrambled by a fixed permutation. Each goroutine interleaves reads and writes in the exact")
	r.p("proportion of the column; every write sets a 1-hour TTL. The caches of a table are filled side")
	r.p("by side in one process (`go test ./throughput -run TestRotate -rotate`) and rotated: %d rounds,", t0.Rounds)
	r.p("each running every cache for a slice of %s. Every slice starts from a collected heap (a", t0.Slice)
	r.p("collection runs before it unless less than 2%% of the live heap was allocated since the last),")
	r.p("so that none pays for another's garbage; in a slice this short a collection of its own garbage")
	r.p("seldom falls due, so each slice is charged the collector's share of what it allocated instead:")
	r.p("at `GOGC=100` a collection runs each time as many bytes are allocated as the heap holds live,")
	r.p("and each costs the CPU time that the last collection before the slice took. ns/op (wall time per")
	r.p("operation over all goroutines) and CPU (the process's CPU time per operation, which other")
	r.p("processes on the machine do not inflate) include that share, and are medians over the rounds;")
	r.p("the ratio is the median over the rounds of each cache's ns/op divided by otter's in the same")
	r.p("round. The floors (`map+RWMutex`, `sync.Map`) have no TTL and no eviction. Configuration:")
	r.p("otter unbounded with `ExpiryWriting`; ristretto and theine bounded at 65,536 entries (they")
	r.p("need a bound); ttlcache with touch-on-hit off; go-cache with a 1-minute janitor; golang-lru")
	r.p("`expirable` unbounded. `livedict+OnSet` is the same store with one asynchronous OnSet hook")
	r.p("that does nothing; `livedict WithoutCopies` the store opened `WithoutCopies()`.")
	r.p("")
	for _, typ := range []string{rotSession, rotGrant} {
		t := res.Throughput[typ]
		if t == nil {
			continue
		}
		value := strings.ToLower(typ)
		if typ == rotSession {
			r.p("### Session values (strings, a slice, a map, a pointer, times)")
			r.p("")
			r.p("Every cache stores the struct by value. livedict deep-copies it on Set and on Get (its values")
			r.p("are copies, on every backend) unless opened `WithoutCopies()`; the others hand out the")
			r.p("slice, map and pointer they were given.")
		} else {
			r.p("### Grant values (48 bytes, no references)")
			r.p("")
			r.p("The same workload with a small value that livedict copies by assignment, like every other")
			r.p("cache: what is left is the cost of the store itself.")
		}
		r.p("")
		names := t.caches(value)
		r.rotationTable(t, value, names, "Wall time per operation against otter's in the same round", false)
		r.rotationTable(t, value, names, "CPU time per operation against otter's in the same round", true)
		r.p("Medians per operation: wall time · CPU time · bytes allocated.")
		r.p("")
		r.p("| cache | 100%% reads | 75%% reads | 50%% reads | 0%% reads |")
		r.p("|---|---:|---:|---:|---:|")
		for _, n := range names {
			line := "| " + n
			for _, reads := range readShares {
				st := t.stats(value+":"+n, reads)
				if !st.ok {
					line += " | –"
					continue
				}
				line += fmt.Sprintf(" | %s · %s · %.0f B", fmtNs(st.Wall), fmtNs(st.CPU), st.AllocBytes)
			}
			r.p("%s |", line)
		}
		r.p("")
		r.gcShare(t, value, names)
		r.hitRatios(t, value, names)
		r.noise(t, value, names)

		file := "throughput_" + value + ".svg"
		r.p("![throughput, %s values](charts/%s)", typ, file)
		r.p("")
		ss := make([]series, len(readRatios))
		for i, reads := range readShares {
			ss[i].name = readRatios[i] + " reads"
			for _, n := range names {
				v := 0.0
				if st := t.stats(value+":"+n, reads); st.ok && st.Wall > 0 {
					v = 1e3 / st.Wall
				}
				ss[i].values = append(ss[i].values, v)
			}
		}
		r.charts = append(r.charts, chart{file: file, title: "Throughput, " + typ + " values (higher is better)",
			ylabel: "million operations per second", groups: names, series: ss})
	}
	r.copies(res.Throughput[rotCopies])
}

// rotationTable writes the ratio of every cache to otter, of wall time or
// of CPU, the lowest median of each column in bold.
func (r *report) rotationTable(t *rotation, value string, names []string, what string, cpu bool) {
	base := value + ":" + caches.Otter
	best := map[int]float64{}
	for _, reads := range readShares {
		best[reads] = math.Inf(1)
		for _, n := range names {
			if q := t.ratio(value+":"+n, base, reads, cpu); q.ok {
				best[reads] = min(best[reads], q.Q2)
			}
		}
	}
	r.p("%s (median ratio, interquartile range):", what)
	r.p("")
	r.p("| cache | 100%% reads | 75%% reads | 50%% reads | 0%% reads |")
	r.p("|---|---:|---:|---:|---:|")
	for _, n := range names {
		line := "| " + n
		for _, reads := range readShares {
			q := t.ratio(value+":"+n, base, reads, cpu)
			s := q.String()
			if n == caches.Otter {
				s = "1"
			}
			if q.ok && q.Q2 == best[reads] {
				s = "**" + s + "**"
			}
			line += " | " + s
		}
		r.p("%s |", line)
	}
	r.p("")
}

// gcShare says how much the collector's share added to the CPU figures.
func (r *report) gcShare(t *rotation, value string, names []string) {
	var parts []string
	for _, n := range names {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, reads := range readShares {
			if st := t.stats(value+":"+n, reads); st.ok {
				lo, hi = min(lo, st.GCShare), max(hi, st.GCShare)
			}
		}
		if hi > 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.0f–%.0f%%", n, 100*max(lo, 0), 100*hi))
		}
	}
	if len(parts) > 0 {
		r.p("The collector's share in those figures, from the lowest read share's to the highest's median:")
		r.p("%s.", strings.Join(parts, ", "))
		r.p("")
	}
}

// hitRatios lists the caches that did not find every key.
func (r *report) hitRatios(t *rotation, value string, names []string) {
	var lines []string
	for _, n := range names {
		var cells []string
		short := false
		for _, reads := range readShares {
			h := t.stats(value+":"+n, reads).HitRatio
			if math.IsNaN(h) {
				cells = append(cells, "–")
				continue
			}
			if h < 99.995 {
				short = true
			}
			cells = append(cells, fmt.Sprintf("%.2f%%", h))
		}
		if short {
			lines = append(lines, "| "+n+" | "+strings.Join(cells, " | ")+" |")
		}
	}
	if len(lines) == 0 {
		r.p("Every cache found every key it was asked for (hit ratio 100%%).")
		r.p("")
		return
	}
	r.p("Hit ratios below 100%% (every key was written before the run, and no TTL falls due; a miss is a")
	r.p("write the cache dropped or an entry its policy evicted). The other caches found every key.")
	r.p("")
	r.p("| cache | 100%% reads | 75%% reads | 50%% reads | 0%% reads |")
	r.p("|---|---:|---:|---:|---:|")
	for _, l := range lines {
		r.p("%s", l)
	}
	r.p("")
}

// noise says how wide the interquartile ranges of the ratios were.
func (r *report) noise(t *rotation, value string, names []string) {
	var widths []float64
	worst, worstAt := 0.0, ""
	for _, n := range names {
		if n == caches.Otter {
			continue
		}
		for i, reads := range readShares {
			q := t.ratio(value+":"+n, value+":"+caches.Otter, reads, false)
			if !q.ok || q.Q2 <= 0 {
				continue
			}
			w := (q.Q3 - q.Q1) / q.Q2
			widths = append(widths, w)
			if w > worst {
				worst, worstAt = w, n+", "+readRatios[i]+" reads"
			}
		}
	}
	if len(widths) == 0 {
		return
	}
	r.p("Noise: the interquartile range of a ratio spans a median %.0f%% of the ratio, at most %.0f%% (%s).",
		100*median(widths), 100*worst, worstAt)
	r.p("A difference inside the ranges is not a finding. The rotation cancels the changes of the machine's")
	r.p("load between contenders, not its level: how many cores other work leaves the process changes what")
	r.p("lock contention costs, so the ratios of runs at different load averages (at the top of this file)")
	r.p("can differ by more than these ranges; go-cache, one lock for the whole cache, moves the most.")
	r.p("")
}

// copies is the table of livedict's Session store, with copies and
// without, against its Grant store, rotated together.
func (r *report) copies(t *rotation) {
	if t == nil {
		return
	}
	grant := "grant:" + caches.Livedict
	with := "session:" + caches.Livedict
	without := "session:" + caches.LivedictNoCopies
	r.p("### Session values against livedict's Grant row")
	r.p("")
	r.p("livedict's Grant store, its Session store and its Session store opened `WithoutCopies()`,")
	r.p("rotated together in one process as above (%d rounds of %s slices): what the copies of a", t.Rounds, t.Slice)
	r.p("value with references cost, and what is left without them. Two references ran in the same")
	r.p("rotation: otter's Session / Grant is what the larger value (112 bytes with four pointers")
	r.p("against 48 with one) costs a cache that copies nothing; `map+RWMutex+copies` is a map")
	r.p("under a lock that makes livedict's copies (a deep copy on Set and on Get, the Grant value")
	r.p("copied by assignment) and nothing else: its Session / Grant is what the copies cost with no")
	r.p("cache around them.")
	r.p("")
	r.p("| reads | Grant | Session | Session / Grant | Session `WithoutCopies` | `WithoutCopies` / Grant | otter Session / Grant | `map+RWMutex+copies` Session / Grant |")
	r.p("|---|---:|---:|---:|---:|---:|---:|---:|")
	for i, reads := range readShares {
		g, w, wo := t.stats(grant, reads), t.stats(with, reads), t.stats(without, reads)
		if !g.ok {
			continue
		}
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s |", readRatios[i], fmtNs(g.Wall), fmtNs(w.Wall), t.ratio(with, grant, reads, false),
			fmtNs(wo.Wall), t.ratio(without, grant, reads, false), t.valueCost(caches.Otter, reads), t.valueCost(caches.RWMapCopies, reads))
	}
	r.p("")
}
