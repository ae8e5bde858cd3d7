package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/internal/rotate"
)

func nan() float64 { return math.NaN() }

// The rotations of the throughput section: every cache of each value type,
// and livedict's Session store, with copies and without, against its Grant
// store. Their keys in results.Throughput.
const (
	rotGrant   = "Grant"
	rotSession = "Session"
	rotCopies  = "Copies"
)

var throughputRotations = []struct{ key, value, caches string }{
	{rotGrant, "grant", "all"},
	{rotSession, "session", "all"},
	// otter's two rows say what the larger value costs a cache that copies
	// nothing; the copying map's, what the copies cost with no cache.
	{rotCopies, "grant", "grant:livedict,session:livedict,session:livedict WithoutCopies," +
		"grant:otter,session:otter,grant:map+RWMutex+copies,session:map+RWMutex+copies"},
}

// throughput runs the throughput package's TestRotate once per rotation
// and keeps every slice it measured; it goes on past a rotation that fails
// and returns the first error.
func throughput(o options, benchDir, tmp string, r *results) error {
	bin, err := compileTest(benchDir, "./throughput", tmp)
	if err != nil {
		return err
	}
	var first error
	for _, run := range throughputRotations {
		t, err := rotateOnce(o, filepath.Join(benchDir, "throughput"), bin, filepath.Join(tmp, "rotate-"+run.key+".json"), run.value, run.caches)
		if err != nil {
			logf("throughput: %s: %v", run.key, err)
			if first == nil {
				first = fmt.Errorf("the %s rotation: %v", run.key, err)
			}
			continue
		}
		r.Throughput[run.key] = t
	}
	return first
}

// rotateOnce runs TestRotate once in dir, writing its slices to file.
func rotateOnce(o options, dir, bin, file, value, names string) (*rotation, error) {
	what := names
	if names == "all" {
		what = fmt.Sprintf("%s values, %d caches", value, len(caches.All(caches.OpenGrant, true)))
	}
	logf("throughput: %s; %d rounds of %s slices at each of %d read shares", what, o.rotRounds, o.rotSlice, len(readRatios))
	out, err := runTestBinary(dir, bin,
		"-test.run", "^TestRotate$", "-test.timeout", "60m", "-rotate",
		"-rotate.value", value, "-rotate.caches", names,
		"-rotate.rounds", strconv.Itoa(o.rotRounds), "-rotate.slice", o.rotSlice.String(),
		"-rotate.json", file)
	if err != nil {
		return nil, fmt.Errorf("%v\n%s", err, lastLines(out, 20))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t rotate.Throughput
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return &rotation{t}, nil
}

// rotation is one TestRotate run.
type rotation struct{ rotate.Throughput }

// caches returns the cache names of the contenders of value type value
// ("grant"), in the rotation's order.
func (t *rotation) caches(value string) []string {
	var out []string
	for _, c := range t.Contenders {
		if v, name, _ := strings.Cut(c, ":"); v == value {
			out = append(out, name)
		}
	}
	return out
}

// slices returns the slices of contender ("grant:livedict") at reads percent.
func (t *rotation) slices(contender string, reads int) []rotate.Slice {
	for _, rr := range t.Reads {
		if rr.Reads != reads {
			continue
		}
		for i, c := range t.Contenders {
			if c == contender && i < len(rr.Slices) {
				return rr.Slices[i]
			}
		}
	}
	return nil
}

// cacheStats are a contender's medians at one read share.
type cacheStats struct {
	Wall, CPU  float64 // ns per operation, with the collector's share
	AllocBytes float64
	GCShare    float64 // the collector's share added to CPU, as a fraction of it
	HitRatio   float64 // percent; NaN without reads
	ok         bool
}

func (t *rotation) stats(contender string, reads int) cacheStats {
	ss := t.slices(contender, reads)
	if len(ss) == 0 {
		return cacheStats{}
	}
	var wall, cpu, alloc, share []float64
	var gets, hits int64
	for _, s := range ss {
		w, c := s.WithGC()
		wall, cpu, alloc = append(wall, w), append(cpu, c), append(alloc, s.AllocBytes)
		if s.CPU > 0 {
			share = append(share, s.GC/s.CPU)
		}
		gets, hits = gets+s.Gets, hits+s.Hits
	}
	st := cacheStats{Wall: rotate.Median(wall), CPU: rotate.Median(cpu), AllocBytes: rotate.Median(alloc),
		GCShare: rotate.Median(share), ok: true, HitRatio: nan()}
	if gets > 0 {
		st.HitRatio = 100 * float64(hits) / float64(gets)
	}
	return st
}

// quartiles of a per-round ratio.
type ratioQ struct {
	Q1, Q2, Q3 float64
	ok         bool
}

func (q ratioQ) String() string {
	if !q.ok {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", fmtR(q.Q2), strings.TrimSuffix(fmtR(q.Q1), "×"), strings.TrimSuffix(fmtR(q.Q3), "×"))
}

// fmtR writes a ratio with two decimals, or fewer when large.
func fmtR(x float64) string {
	switch {
	case x != x:
		return "–"
	case x < 10:
		return fmt.Sprintf("%.2f×", x)
	default:
		return fmt.Sprintf("%.0f×", x)
	}
}

// ratio is the median and quartiles over the rounds of a's time per
// operation (with the collector's share) over b's, of wall time or of CPU.
// valueCost is cache's Session row against its Grant row, rotated together.
func (t *rotation) valueCost(cache string, reads int) ratioQ {
	return t.ratio("session:"+cache, "grant:"+cache, reads, false)
}

func (t *rotation) ratio(a, b string, reads int, cpu bool) ratioQ {
	sa, sb := t.slices(a, reads), t.slices(b, reads)
	if len(sa) == 0 || len(sb) == 0 {
		return ratioQ{}
	}
	pick := func(ss []rotate.Slice) []float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			w, c := s.WithGC()
			v[i] = w
			if cpu {
				v[i] = c
			}
		}
		return v
	}
	q1, q2, q3 := rotate.Quartiles(rotate.Ratios(pick(sa), pick(sb)))
	return ratioQ{q1, q2, q3, true}
}

// pair is one rotated comparison read from a benchmark row in the root
// module's format (package internal/rotate): Name against Base.
type pair struct {
	Row        string // the benchmark
	Name, Base string
	Ratio      ratioQ
	NsName     float64 // median ns per operation of each side
	NsBase     float64
}

// pairs returns the rotated comparisons of row, in the order of its
// metrics' names.
func pairs(row benchRow) []pair {
	var out []pair
	for unit, v := range row.Metrics {
		rest, ok := strings.CutPrefix(unit, "ratio-")
		if !ok || strings.HasPrefix(rest, "p25-") || strings.HasPrefix(rest, "p75-") {
			continue
		}
		name, base, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		q1, ok1 := row.Metrics["ratio-p25-"+rest]
		q3, ok3 := row.Metrics["ratio-p75-"+rest]
		if !ok1 || !ok3 {
			q1, q3 = v, v
		}
		out = append(out, pair{Row: row.Name, Name: name, Base: base, Ratio: ratioQ{q1, v, q3, true},
			NsName: row.Metrics["ns/op-"+name], NsBase: row.Metrics["ns/op-"+base]})
	}
	slices.SortFunc(out, func(a, b pair) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// findPair returns the comparison name/base of the row called rowName in
// rows.
func findPair(rows []benchRow, rowName, name, base string) (pair, bool) {
	for _, row := range rows {
		if row.Name != rowName {
			continue
		}
		for _, p := range pairs(row) {
			if p.Name == name && p.Base == base {
				return p, true
			}
		}
	}
	return pair{}, false
}

// isRotated says a row reports rotated comparisons.
func isRotated(row benchRow) bool {
	for unit := range row.Metrics {
		if strings.HasPrefix(unit, "ratio-") {
			return true
		}
	}
	return false
}

// benchPkg runs go test on a package of the bench module, as rootBench on
// one of the root module.
func benchPkg(benchDir, pkg string, args ...string) pkgRun {
	args = append([]string{pkg}, args...)
	res := pkgRun{Pkg: strings.TrimPrefix(pkg, "./"), Command: "go test " + strings.Join(quoteArgs(args), " ")}
	logf("%s", res.Command)
	out, err := goTest(benchDir, args...)
	res.Rows = parseBench(out)
	if err != nil {
		res.Note = fmt.Sprintf("go test failed (%v); %d benchmark lines were kept", err, len(res.Rows))
		logf("%s: %v\n%s", pkg, err, lastLines(out, 15))
	}
	return res
}
