package main

import (
	"fmt"
	"strconv"
	"strings"
)

// findRun returns the run of package pkg ("backends/redis") in runs.
func findRun(runs []pkgRun, pkg string) *pkgRun {
	for i := range runs {
		if runs[i].Pkg == pkg {
			return &runs[i]
		}
	}
	return nil
}

func findRow(rows []benchRow, name string) (benchRow, bool) {
	for _, row := range rows {
		if row.Name == name {
			return row, true
		}
	}
	return benchRow{}, false
}

func (r *report) note(run *pkgRun) {
	if run.Note != "" {
		r.p("%s.", strings.ToUpper(run.Note[:1])+run.Note[1:])
		r.p("")
	}
}

// The root module's rows that the batches section and the targets compare
// with one plain transaction or pipeline.
type plainBatch struct {
	what, against string
	// rotated: the row and pair of the package's BenchmarkRotated.
	pkg, row, name, base string
	// not rotated: two rows of the package's other benchmarks, by their
	// time per operation in a batch.
	ours, theirs string
}

var plainBatches = []plainBatch{
	{what: "SQLite: the bucket's PutMany of 100 (what SetMany runs, below the store)", against: "one plain transaction of 100 upserts",
		pkg: "backends/sqlite", row: "Rotated/PutMany100", name: "putmany", base: "sql-one-tx"},
	{what: "SQLite: 100 Sets from 8 goroutines (group commit)", against: "one plain transaction of 100 upserts",
		pkg: "backends/sqlite", row: "Rotated/SetBatch100", name: "goroutines-8", base: "sql-one-tx"},
	{what: "SQLite: 100 Sets from 100 goroutines", against: "one plain transaction of 100 upserts",
		pkg: "backends/sqlite", row: "Rotated/SetBatch100", name: "goroutines-100", base: "sql-one-tx"},
	{what: "SQLite: 100 async Sets", against: "one plain transaction of 100 upserts",
		pkg: "backends/sqlite", row: "Rotated/SetBatch100", name: "async", base: "sql-one-tx"},
	{what: "Redis: SetMany of 100", against: "one pipeline of 100 SETs",
		pkg: "backends/redis", row: "Rotated/SetMany100", name: "SetMany", base: "pipeline",
		ours: "SetBatch100/livedict-SetMany", theirs: "SetBatch100/redis-pipeline"},
	{what: "Redis: 100 async Sets", against: "one pipeline of 100 SETs",
		pkg: "backends/redis", row: "Rotated/SetMany100", name: "async", base: "pipeline",
		ours: "SetBatch100/livedict-async", theirs: "SetBatch100/redis-pipeline"},
	{what: "Redis: the floor of a batch of scripted writes (one script call per shard, each taking a version, reading each entry's fields and writing its hash)",
		against: "one pipeline of 100 SETs", pkg: "backends/redis", row: "Rotated/SetMany100", name: "floor", base: "pipeline"},
}

// measured is a comparison the report judges: a ratio, whether it was
// rotated, and where it came from.
type measured struct {
	ratio   ratioQ
	rotated bool
	ns      [2]float64 // per operation: ours, theirs
	missing string     // why there is no ratio
}

func (m measured) String() string {
	if m.missing != "" {
		return m.missing
	}
	s := m.ratio.String()
	if !m.rotated {
		s = fmtR(m.ratio.Q2) + ", whole runs one after the other, not rotated"
	}
	return s
}

// rootPair finds a rotated pair of the root module's BenchmarkRotated, or
// else (b.ours set) two rows of its other benchmarks.
func rootPair(res *results, b plainBatch) measured {
	if b.row != "" {
		var m measured
		if run := res.RootRotated[b.pkg]; run == nil {
			m.missing = fmt.Sprintf("not measured: %s's BenchmarkRotated did not run", b.pkg)
		} else if p, ok := findPair(run.Rows, b.row, b.name, b.base); ok {
			return measured{ratio: p.Ratio, rotated: true, ns: [2]float64{p.NsName, p.NsBase}}
		} else {
			m.missing = fmt.Sprintf("not measured: no %s ratio-%s/%s in %s", b.row, b.name, b.base, b.pkg)
		}
		if b.ours == "" {
			return m
		}
	}
	run := findRun(res.Backends, b.pkg)
	if run == nil {
		return measured{missing: fmt.Sprintf("not measured: %s did not run", b.pkg)}
	}
	us, ok1 := findRow(run.Rows, b.ours)
	them, ok2 := findRow(run.Rows, b.theirs)
	if !ok1 || !ok2 || cost(them) <= 0 {
		return measured{missing: fmt.Sprintf("not measured: no rows %s and %s in %s", b.ours, b.theirs, b.pkg)}
	}
	x := cost(us) / cost(them)
	return measured{ratio: ratioQ{x, x, x, true}, ns: [2]float64{cost(us), cost(them)}}
}

func (r *report) batches(res *results) {
	r.p("## Batches of 100 keys")
	r.p("")
	run := res.Batches
	if run == nil {
		r.p("Not run.")
		r.p("")
		return
	}
	r.p("The generated Grant store's GetMany and SetMany of 100 keys against 100 single Gets and Sets")
	r.p("of the same keys on the same store, rotated in one process (slices of about 10 ms, %d", res.Options.pairRounds)
	r.p("rounds): `%s`. Per key is the median time per key of each side.", run.Command)
	r.p("")
	r.note(run)
	r.p("| backend | GetMany / 100 Gets | per key: GetMany · Get | SetMany / 100 Sets | per key: SetMany · Set |")
	r.p("|---|---:|---:|---:|---:|")
	for _, be := range []string{"memory", "sqlite", "redis"} {
		g, okG := findPair(run.Rows, "Rotated/"+be+"/GetMany", "getmany", "gets")
		s, okS := findPair(run.Rows, "Rotated/"+be+"/SetMany", "setmany", "sets")
		if !okG && !okS {
			r.p("| %s | not measured | | | |", be)
			continue
		}
		r.p("| %s | %s | %s · %s | %s | %s · %s |", be, g.Ratio, fmtNs(g.NsName), fmtNs(g.NsBase), s.Ratio, fmtNs(s.NsName), fmtNs(s.NsBase))
	}
	r.p("")
	r.p("Against one plain transaction or pipeline, from the root module's benchmarks (the SQLite and")
	r.p("Redis section above):")
	r.p("")
	r.p("| livedict | against | ratio | per op: livedict · plain |")
	r.p("|---|---|---:|---:|")
	for _, b := range plainBatches {
		m := rootPair(res, b)
		per := "–"
		if m.missing == "" {
			per = fmtNs(m.ns[0]) + " · " + fmtNs(m.ns[1])
		}
		r.p("| %s | %s | %s | %s |", b.what, b.against, m, per)
	}
	r.p("")
}

func (r *report) loading(res *results) {
	r.p("## Read-through loading")
	r.p("")
	run := res.Loading
	if run == nil {
		r.p("Not run.")
		r.p("")
		return
	}
	r.p("`%s`", run.Command)
	r.p("")
	r.note(run)
	r.p("A miss storm: 1,000 goroutines ask for one missing key at once, through each cache's loader")
	r.p("(livedict `GetOrLoad`, otter `Get` with a loader, ttlcache's suppressed loader), and the loader")
	r.p("takes 20 ms, an origin's round trip. *loads per storm* is how many times the loader ran (1 is")
	r.p("the goal), over %d storms each.", res.Options.pairRounds)
	r.p("")
	r.p("| cache | loads per storm | time per storm |")
	r.p("|---|---:|---:|")
	for _, row := range run.Rows {
		name, ok := strings.CutPrefix(row.Name, "MissStorm/")
		if !ok {
			continue
		}
		r.p("| %s | %.2f | %s |", name, row.Metrics["loads/op"], fmtNs(row.Metrics["ns/op"]))
	}
	r.p("")
	if len(res.LoadAcross) > 0 {
		r.p("The same storm across processes, on a shared backend: 4 worker processes of 250 goroutines")
		r.p("each miss one key at once, and the loads of every process are counted (the root module's")
		r.p("process test; 1 in all is the goal):")
		r.p("")
		r.p("| backend | loads in all | what the test logged | command |")
		r.p("|---|---:|---|---|")
		for _, l := range res.LoadAcross {
			total := "–"
			if l.Loads >= 0 {
				total = strconv.Itoa(l.Loads)
			}
			r.p("| %s | %s | %s | `%s` |", l.Pkg, total, l.Line, l.Command)
		}
		r.p("")
	}
	if p, ok := findPair(run.Rows, "ReadThroughHit", "through", "plain"); ok {
		r.p("A read-through hit: Gets that hit on a store opened `WithLoader` against the same Gets on a")
		r.p("store without a loader, rotated in one process (slices of 100,000 Gets, %d rounds): %s", res.Options.pairRounds, p.Ratio)
		r.p("(%s against %s per Get).", fmtNs(p.NsName), fmtNs(p.NsBase))
		r.p("")
	}
}
