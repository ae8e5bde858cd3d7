// Package rotate compares contenders on a busy machine: every round runs
// each contender for one short slice, starting each round with the next
// one, and a contender is compared with the first by the median over the
// rounds of the ratio of their slices, with the interquartile range of
// those ratios. The load of other work on the machine changes from one
// second to the next; the slices of one round are milliseconds apart and
// meet nearly the same load, so the median ratio holds where whole runs of
// one and then the other do not.
//
// Run reports the metrics the root module's backends/sqlite BenchmarkRotated
// reports, so that the bench runner reads both alike: ns/op-NAME, each
// contender's median time per operation; and for every contender after the
// first, ratio-NAME/FIRST with ratio-p25-NAME/FIRST and ratio-p75-NAME/FIRST.
package rotate

import (
	"slices"
	"testing"
	"time"
)

// Contender is one side of a rotation: Slice runs its share of a round,
// Ops operations. round is -1 for the warm-up slice.
type Contender struct {
	Name  string
	Ops   int
	Slice func(round int)
}

// Bench runs b.N rounds of the contenders (run it with -benchtime Nx) and
// reports their metrics. Each contender runs one slice first, unmeasured,
// to warm caches and connections.
func Bench(b *testing.B, cs ...Contender) {
	for _, c := range cs {
		c.Slice(-1)
	}
	b.ResetTimer()
	per := Rounds(b.N, cs...)
	b.StopTimer()
	Report(b, cs, per)
}

// Rounds runs rounds rounds and returns the time per operation of every
// contender's slice, by contender and round.
func Rounds(rounds int, cs ...Contender) [][]float64 {
	per := make([][]float64, len(cs))
	for r := range rounds {
		for k := range cs {
			j := (r + k) % len(cs)
			start := time.Now()
			cs[j].Slice(r)
			per[j] = append(per[j], float64(time.Since(start).Nanoseconds())/float64(cs[j].Ops))
		}
	}
	return per
}

// Report reports the metrics of per, as Rounds returns it.
func Report(b *testing.B, cs []Contender, per [][]float64) {
	for j, c := range cs {
		b.ReportMetric(Median(per[j]), "ns/op-"+c.Name)
		if j == 0 {
			continue
		}
		q1, q2, q3 := Quartiles(Ratios(per[j], per[0]))
		suffix := c.Name + "/" + cs[0].Name
		b.ReportMetric(q2, "ratio-"+suffix)
		b.ReportMetric(q1, "ratio-p25-"+suffix)
		b.ReportMetric(q3, "ratio-p75-"+suffix)
	}
}

// Ratios returns a[k]/b[k] for every round k.
func Ratios(a, b []float64) []float64 {
	rs := make([]float64, min(len(a), len(b)))
	for k := range rs {
		rs[k] = a[k] / b[k]
	}
	return rs
}

// Quantile returns the q-quantile of xs, interpolated between the two
// nearest ranks (the root module's rotations take the nearest rank; with
// 40 rounds the two differ little, with 4 this one keeps the quartiles
// apart from the median).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// Quartiles returns the first quartile, the median and the third quartile.
func Quartiles(xs []float64) (q1, q2, q3 float64) {
	return Quantile(xs, 0.25), Quantile(xs, 0.5), Quantile(xs, 0.75)
}

// Median is the 0.5-quantile.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Throughput is what the throughput package's TestRotate writes with
// -rotate.json: every slice of every contender, for the bench runner to
// take medians and ratios from.
type Throughput struct {
	// Contenders are "value:cache", e.g. "grant:livedict".
	Contenders []string
	Rounds     int
	Slice      time.Duration
	Goroutines int
	// GC says every slice started from a collected heap: a collection ran
	// before it, outside its time, unless what was allocated since the last
	// one was under 2% of the heap that collection left live.
	GC    bool
	Reads []ThroughputReads
}

// ThroughputReads holds the slices of one read share.
type ThroughputReads struct {
	Reads  int       // percent
	Slices [][]Slice // by contender, then round
}

// Slice is one contender's slice of one round.
type Slice struct {
	Wall float64 // wall time per operation over all goroutines, ns
	CPU  float64 // the process's CPU time per operation, ns
	Ops  int64
	Gets int64
	Hits int64
	// AllocBytes and Allocs are heap bytes and objects allocated per
	// operation; GCs counts the collections that ended during the slice.
	AllocBytes float64
	Allocs     float64
	GCs        int64
	// GC is, with Throughput.GC, the collector's CPU per operation that the
	// slice's garbage costs and its time does not hold: a collection every
	// time as many bytes are allocated as the heap holds live (GOGC=100),
	// each costing the CPU that the last collection before the slice took,
	// less the collections that ran within the slice. Negative when more
	// ran than that share.
	GC float64
}

// WithGC returns the wall and CPU time per operation of s with its
// collector's share: CPU plus GC, and the wall time grown in the same
// proportion, the parallelism of the slice unchanged.
func (s Slice) WithGC() (wall, cpu float64) {
	if s.CPU <= 0 {
		return s.Wall, s.CPU
	}
	cpu = max(s.CPU+s.GC, 0)
	return s.Wall * cpu / s.CPU, cpu
}
