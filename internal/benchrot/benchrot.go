// Package benchrot compares contenders inside one benchmark by rotation,
// for the root module's backend benchmarks: on a busy machine, whole runs
// one after the other are too noisy to compare, rounds of short slices are
// not.
package benchrot

import (
	"slices"
	"testing"
	"time"
)

// Contender is one side of a rotated comparison: Slice runs its share of a
// round, Ops operations. Slice(-1) warms it up (connections dialled,
// statements prepared, scripts loaded).
type Contender struct {
	Name  string
	Ops   int
	Slice func(round int)
}

// Rotate runs the contenders in turn, one slice each per round (b.N
// rounds), starting each round with the next one, and reports, for every
// contender after the first, the median over the rounds of its time per
// operation divided by the first one's (ratio-X/base), with the quartiles
// of those ratios (ratio-p25-, ratio-p75-); and each one's median time per
// operation (ns/op itself is the time of a round of all of them). The
// ratio of one round compares slices run a few milliseconds apart, so a
// machine whose speed drifts with other work moves both sides of it alike.
func Rotate(b *testing.B, cs ...Contender) {
	per := make([][]float64, len(cs)) // ns per operation, by contender and round
	for _, c := range cs {
		c.Slice(-1)
	}
	b.ResetTimer()
	for r := range b.N {
		for k := range cs {
			j := (r + k) % len(cs)
			start := time.Now()
			cs[j].Slice(r)
			per[j] = append(per[j], float64(time.Since(start).Nanoseconds())/float64(cs[j].Ops))
		}
	}
	b.StopTimer()
	quantile := func(xs []float64, q float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[int(q*float64(len(xs)-1)+0.5)]
	}
	for j, c := range cs {
		b.ReportMetric(quantile(per[j], 0.5), "ns/op-"+c.Name)
		if j == 0 {
			continue
		}
		ratios := make([]float64, len(per[j]))
		for r := range ratios {
			ratios[r] = per[j][r] / per[0][r]
		}
		suffix := c.Name + "/" + cs[0].Name
		b.ReportMetric(quantile(ratios, 0.5), "ratio-"+suffix)
		b.ReportMetric(quantile(ratios, 0.25), "ratio-p25-"+suffix)
		b.ReportMetric(quantile(ratios, 0.75), "ratio-p75-"+suffix)
	}
}
