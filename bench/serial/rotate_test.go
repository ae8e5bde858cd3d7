package serial

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict/bench/internal/rusage"
	"github.com/livedict/livedict/bench/model"
)

// TestRotateDecode compares decoders in one process, by rotation: every
// round runs each codec's decode for one slice of a few thousand calls, the
// order changing from round to round, and the ratio of the first codec's
// time per decode to each other's is taken per round. On a busy machine the
// load changes from one second to the next; within a round the contenders
// meet nearly the same load, so the median of the per-round ratios holds
// where benchmarks run one after the other do not. It runs only when asked:
//
//	go test ./serial -run TestRotateDecode -rotate -v
//	go test ./serial -run TestRotateDecode -rotate -rotate.codecs livedict,msgp -rotate.rounds 40 -rotate.n 4000 -v
//
// and prints, for fresh and reused values, each codec's median ns per
// decode and the median ratio of the first codec to every other, with its
// interquartile range: of wall time, and of the process's CPU time, which
// the other processes of a busy machine do not inflate (both include the
// garbage collector's work).
func TestRotateDecode(t *testing.T) {
	if !*rotateOn {
		t.Skip("runs with -rotate")
	}
	v := model.SampleSession(7)
	all := codecs(t, &v)
	var cs []codec
	for _, name := range strings.Split(*rotateCodecs, ",") {
		i := slices.IndexFunc(all, func(c codec) bool { return c.name == strings.TrimSpace(name) })
		if i < 0 {
			t.Fatalf("-rotate.codecs: no codec %q", name)
		}
		cs = append(cs, all[i])
	}
	for _, variant := range []string{"fresh", "reuse"} {
		fns := make([]func() error, len(cs))
		for i, c := range cs {
			fns[i] = c.decodeFresh
			if variant == "reuse" {
				fns[i] = c.decodeReuse
			}
		}
		// Warm up: caches, the zone cache, the heap.
		for _, fn := range fns {
			for range *rotateN {
				if err := fn(); err != nil {
					t.Fatal(err)
				}
			}
		}
		nsop := make([][]float64, len(cs))
		cpuop := make([][]float64, len(cs))
		for round := range *rotateRounds {
			for k := range cs {
				i := (k + round) % len(cs) // who goes first changes every round
				runtime.GC()
				start, cpu := time.Now(), rusage.Process()
				for range *rotateN {
					if err := fns[i](); err != nil {
						t.Fatal(err)
					}
				}
				nsop[i] = append(nsop[i], float64(time.Since(start).Nanoseconds())/float64(*rotateN))
				cpuop[i] = append(cpuop[i], float64((rusage.Process()-cpu).Nanoseconds())/float64(*rotateN))
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "decode/%s, %d rounds of %d decodes:", variant, *rotateRounds, *rotateN)
		for i, c := range cs {
			fmt.Fprintf(&b, "\n  %-10s %7.1f ns/op %7.1f CPU ns/op (medians)", c.name, median(nsop[i]), median(cpuop[i]))
		}
		for i := 1; i < len(cs); i++ {
			fmt.Fprintf(&b, "\n  %s/%s: wall %s, CPU %s", cs[0].name, cs[i].name, ratio(nsop[0], nsop[i]), ratio(cpuop[0], cpuop[i]))
		}
		t.Log(b.String())
	}
}

var (
	rotateOn     = flag.Bool("rotate", false, "run TestRotateDecode")
	rotateCodecs = flag.String("rotate.codecs", "livedict,msgp", "codecs to rotate; ratios are of the first to each other")
	rotateRounds = flag.Int("rotate.rounds", 40, "rounds; each runs every codec for one slice")
	rotateN      = flag.Int("rotate.n", 4000, "decodes in one slice")
)

// ratio formats the median and interquartile range of the per-round ratios
// a[k]/b[k].
func ratio(a, b []float64) string {
	rs := make([]float64, len(a))
	for k := range rs {
		rs[k] = a[k] / b[k]
	}
	q1, q2, q3 := quartiles(rs)
	return fmt.Sprintf("median %.3f (IQR %.3f-%.3f)", q2, q1, q3)
}

func median(xs []float64) float64 {
	_, m, _ := quartiles(xs)
	return m
}

// quartiles returns the first quartile, the median and the third quartile
// of xs, interpolating between ranks.
func quartiles(xs []float64) (q1, q2, q3 float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p float64) float64 {
		r := p * float64(len(s)-1)
		lo := int(r)
		if lo+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[lo] + (r-float64(lo))*(s[lo+1]-s[lo])
	}
	return at(0.25), at(0.5), at(0.75)
}
