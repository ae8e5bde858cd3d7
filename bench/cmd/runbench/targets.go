package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
)

// The targets "Where livedict is behind" judges every run against.
const (
	grantReadsVsOtter   = 1.1 // Grant, 100% reads: livedict / otter at most
	sessionCopiesVsRow  = 2.0 // Session with copies / livedict's Grant at most
	sessionNoCopiesVsRo = 1.1 // Session WithoutCopies / livedict's Grant at most
	bytesPerEntryMax    = 140
	bytesPerEntryAt     = 1_000_000
	expiryKeysAt        = 1_000_000
	expiryP99Max        = 5 * time.Millisecond
	expiryMaxMax        = 20 * time.Millisecond
	encodeFreshAllocs   = 1
	decodeFreshVsMsgp   = 1.1
	sqliteSetManyVsTx   = 1.5 // PutMany of 100 / one plain transaction
	sqliteConcurrentTx  = 3.0 // 100 concurrent Sets / one plain transaction
	redisSetManyVsPipe  = 2.0 // SetMany of 100 / one plain pipeline
	redisGetVsPlain     = 1.1
	redisSetVsPlain     = 1.2
)

type verdict int

const (
	notMeasured verdict = iota
	met
	notMet
)

type target struct {
	what     string
	measured string
	verdict  verdict
	notes    []string
}

// atMost judges a ratio against limit: met when its median is at most
// limit; a note when the interquartile range straddles the line.
func atMost(q ratioQ, limit float64, t *target) {
	if !q.ok {
		return
	}
	if q.Q2 <= limit {
		t.verdict = max(t.verdict, met)
	} else {
		t.verdict = notMet
	}
	if q.Q1 <= limit && q.Q3 > limit && q.Q1 != q.Q3 {
		t.notes = appendOnce(t.notes, "the interquartile range straddles the line")
	}
}

func appendOnce(xs []string, s string) []string {
	for _, x := range xs {
		if x == s {
			return xs
		}
	}
	return append(xs, s)
}

func (r *report) targets(res *results) {
	r.p("## Where livedict is behind")
	r.p("")
	r.p("The targets set for livedict, judged on this run: the thresholds are the program's (`cmd/runbench/targets.go`)")
	r.p("and every measured figure comes from the sections above. A ratio is judged by its median (of wall")
	r.p("time, for throughput; the CPU ratio is shown beside it); where its interquartile range straddles")
	r.p("the line the row says so, and another run may judge it the other way. Why livedict is behind")
	r.p("where it is, with profiles, and the changes proposed: [proposals/README.md](proposals/README.md).")
	r.p("")
	ts := collectTargets(res)
	r.p("| target | measured | |")
	r.p("|---|---|---|")
	counts := map[verdict]int{}
	for _, t := range ts {
		state := map[verdict]string{notMeasured: "not measured", met: "met", notMet: "**not met**"}[t.verdict]
		counts[t.verdict]++
		m := t.measured
		if len(t.notes) > 0 {
			m += "; " + strings.Join(t.notes, "; ")
		}
		r.p("| %s | %s | %s |", t.what, oneLineKeep(m), state)
	}
	r.p("")
	r.p("%d met, %d not met, %d not measured.", counts[met], counts[notMet], counts[notMeasured])
	r.p("")
}

// oneLineKeep makes s fit a table cell without shortening it.
func oneLineKeep(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", "\\|")
}

// cpuToo is the ratio of livedict's CPU time per operation to peer's in
// the Grant rotation, which a target's measured figure shows beside the
// wall time it is judged by.
func cpuToo(grant *rotation, peer string, reads int) string {
	q := grant.ratio("grant:"+caches.Livedict, "grant:"+peer, reads, true)
	if !q.ok {
		return ""
	}
	return " (CPU " + q.String() + ")"
}

func collectTargets(res *results) []target {
	var ts []target
	add := func(t target) { ts = append(ts, t) }

	// Throughput, Grant values.
	grant := res.Throughput[rotGrant]
	{
		t := target{what: fmt.Sprintf("Grant values, 100%% reads: livedict within %s of otter", fmtR(grantReadsVsOtter)), measured: "–"}
		if grant != nil {
			q := grant.ratio("grant:"+caches.Livedict, "grant:"+caches.Otter, 100, false)
			if q.ok {
				t.measured = "livedict / otter " + q.String() + cpuToo(grant, caches.Otter, 100)
				atMost(q, grantReadsVsOtter, &t)
			}
		}
		add(t)
	}
	for _, reads := range []int{75, 50, 0} {
		t := target{what: fmt.Sprintf("Grant values, %d%% reads: livedict ahead of every peer", reads), measured: "–"}
		if grant != nil {
			var behind []string
			closest, closestQ := "", ratioQ{}
			for _, n := range grant.caches("grant") {
				if !isPeer(n) {
					continue
				}
				q := grant.ratio("grant:"+caches.Livedict, "grant:"+n, reads, false)
				if !q.ok {
					continue
				}
				if !closestQ.ok || q.Q2 > closestQ.Q2 {
					closest, closestQ = n, q
				}
				if q.Q2 >= 1 {
					behind = append(behind, fmt.Sprintf("livedict / %s %s%s", n, q, cpuToo(grant, n, reads)))
				}
			}
			if closestQ.ok {
				if len(behind) > 0 {
					t.verdict = notMet
					t.measured = "behind: " + strings.Join(behind, ", ")
				} else {
					t.verdict = met
					t.measured = fmt.Sprintf("closest peer: livedict / %s %s%s", closest, closestQ, cpuToo(grant, closest, reads))
				}
				if closestQ.Q1 < 1 && closestQ.Q3 >= 1 {
					t.notes = append(t.notes, "the interquartile range straddles the line")
				}
			}
		}
		add(t)
	}

	// Session values against livedict's Grant row.
	copies := res.Throughput[rotCopies]
	for _, c := range []struct {
		what, contender string
		limit           float64
		// reference is the cache whose own Session / Grant ratio the
		// row quotes: the cost of the same work without livedict.
		reference, refWhat string
	}{
		{"Session values with copies: livedict within %s of its Grant row, at every read share", caches.Livedict, sessionCopiesVsRow,
			caches.RWMapCopies, "a map+RWMutex making the same copies"},
		{"Session values `WithoutCopies()`: livedict within %s of its Grant row, at every read share", caches.LivedictNoCopies, sessionNoCopiesVsRo,
			caches.Otter, "otter"},
	} {
		t := target{what: fmt.Sprintf(c.what, fmtR(c.limit)), measured: "–"}
		if copies != nil {
			var parts []string
			for i, reads := range readShares {
				q := copies.ratio("session:"+c.contender, "grant:"+caches.Livedict, reads, false)
				if !q.ok {
					continue
				}
				parts = append(parts, readRatios[i]+" reads "+q.String())
				atMost(q, c.limit, &t)
			}
			if len(parts) > 0 {
				t.measured = strings.Join(parts, ", ")
			}
			var refs []string
			for i, reads := range readShares {
				if q := copies.valueCost(c.reference, reads); q.ok {
					refs = append(refs, fmt.Sprintf("%s %.2f×", readRatios[i], q.Q2))
				}
			}
			if len(refs) > 0 {
				t.notes = append(t.notes, "Session / Grant of "+c.refWhat+" in the same rotation: "+strings.Join(refs, ", "))
			}
		}
		add(t)
	}

	// Memory per entry.
	{
		t := target{what: fmt.Sprintf("memory: at most %d bytes per entry at %s entries", bytesPerEntryMax, fmtInt(bytesPerEntryAt)), measured: "–"}
		for _, m := range res.Memory {
			if m.Cache != caches.Livedict {
				continue
			}
			if m.Error != "" {
				t.measured = "failed: " + oneLine(m.Error)
				break
			}
			t.measured = fmt.Sprintf("%.0f bytes per entry at %s entries", m.PerEntry, fmtInt(m.Keys))
			t.verdict = notMet
			if m.PerEntry <= bytesPerEntryMax {
				t.verdict = met
			}
			if m.Keys != bytesPerEntryAt {
				t.notes = append(t.notes, "not at "+fmtInt(bytesPerEntryAt)+" entries")
			}
		}
		add(t)
	}

	// Expiry.
	var ld, otter *expiryResult
	for i := range res.Expiry {
		switch res.Expiry[i].Cache {
		case caches.Livedict:
			ld = &res.Expiry[i]
		case caches.Otter:
			otter = &res.Expiry[i]
		}
	}
	expiry := func(what string, judge func(e *expiryResult, t *target)) {
		t := target{what: fmt.Sprintf("expiry of %s keys: %s", fmtInt(expiryKeysAt), what), measured: "–"}
		switch {
		case ld == nil:
		case ld.Error != "":
			t.measured = "failed: " + oneLine(ld.Error)
		default:
			judge(ld, &t)
			if ld.Keys != expiryKeysAt {
				t.notes = append(t.notes, "measured with "+fmtInt(ld.Keys)+" keys")
			}
			if ld.Fired < ld.Keys {
				t.notes = append(t.notes, fmt.Sprintf("%s of %s expiries reported", fmtInt(ld.Fired), fmtInt(ld.Keys)))
			}
			if ld.FailedSets > 0 {
				t.notes = append(t.notes, fmt.Sprintf("%d Sets refused (first: %s)", ld.FailedSets, oneLine(ld.FailedSet)))
			}
		}
		add(t)
	}
	late := func(limit time.Duration, get func(runSummary) time.Duration) func(*expiryResult, *target) {
		return func(e *expiryResult, t *target) {
			v := get(runSummary{P99: e.P99, Max: e.Max})
			t.measured = fmtDur(v)
			if runs := e.runsOf(get); runs != "" {
				t.measured += fmt.Sprintf(", in the run with the median p99 of %d (every run: %s)", len(e.Runs), runs)
			}
			t.verdict = notMet
			if v <= limit {
				t.verdict = met
			}
		}
	}
	expiry("p99 lateness at most "+fmtDur(expiryP99Max), late(expiryP99Max, func(r runSummary) time.Duration { return r.P99 }))
	expiry("max lateness at most "+fmtDur(expiryMaxMax), late(expiryMaxMax, func(r runSummary) time.Duration { return r.Max }))
	expiry("CPU at most otter's", func(e *expiryResult, t *target) {
		if otter == nil || otter.Error != "" {
			t.measured = fmt.Sprintf("livedict %s; otter not measured", fmtDur(e.CPU))
			return
		}
		t.measured = fmt.Sprintf("livedict %s, otter %s (%s), each in processes of its own, not rotated",
			fmtDur(e.CPU), fmtDur(otter.CPU), fmtR(float64(e.CPU)/float64(max(otter.CPU, 1))))
		if runs, oruns := e.runsOf(func(r runSummary) time.Duration { return r.CPU }), otter.runsOf(func(r runSummary) time.Duration { return r.CPU }); runs != "" && oruns != "" {
			t.measured += fmt.Sprintf(", of their median runs (every run: livedict %s; otter %s, alternately)", runs, oruns)
		}
		t.verdict = notMet
		if e.CPU <= otter.CPU {
			t.verdict = met
		}
	})
	expiry("no stale reads", func(e *expiryResult, t *target) {
		reads, stale := e.allStale()
		t.measured = fmt.Sprintf("%d of %s reads", stale, fmtInt(int(reads)))
		if len(e.Runs) > 1 {
			t.measured += fmt.Sprintf(", over all %d runs", len(e.Runs))
		}
		t.verdict = notMet
		if stale == 0 {
			t.verdict = met
		}
	})

	// Serializer.
	{
		t := target{what: fmt.Sprintf("serializer: a fresh encode makes %d allocation", encodeFreshAllocs), measured: "–"}
		if row, ok := findRow(res.Serializer, "Encode/fresh/livedict"); ok {
			a := row.Metrics["allocs/op"]
			t.measured = fmt.Sprintf("%.0f allocation", a)
			if a != 1 {
				t.measured += "s"
			}
			t.verdict = notMet
			if a <= encodeFreshAllocs {
				t.verdict = met
			}
		}
		add(t)
	}
	{
		t := target{what: fmt.Sprintf("serializer: a fresh decode within %s of msgp's", fmtR(decodeFreshVsMsgp)), measured: "–"}
		if res.SerialRotated != nil {
			if p, ok := findPair(res.SerialRotated.Rows, "Rotated/DecodeFresh", "livedict", "msgp"); ok {
				t.measured = "livedict / msgp " + p.Ratio.String()
				atMost(p.Ratio, decodeFreshVsMsgp, &t)
			}
		}
		add(t)
	}

	// SQLite and Redis against plain clients.
	// floor, when not "", names the row of the same rotation whose ratio
	// to the same baseline is the least the guarantees cost: refWhat says
	// what it runs.
	root := func(what string, b plainBatch, limit float64, floor, refWhat string) {
		t := target{what: fmt.Sprintf(what, fmtR(limit))}
		m := rootPair(res, b)
		t.measured = m.String()
		if m.missing == "" {
			atMost(m.ratio, limit, &t)
		}
		if floor != "" {
			f := b
			f.name, f.ours, f.theirs = floor, "", ""
			if fm := rootPair(res, f); fm.missing == "" && fm.ratio.ok {
				t.notes = append(t.notes, fmt.Sprintf("%s, in the same rotation: %s", refWhat, fm.ratio))
			}
		}
		add(t)
	}
	const scriptFloor = "a script that only takes a version, reads the entry's fields and writes its hash"
	root("SQLite: SetMany of 100 within %s of one plain transaction (measured: the bucket's PutMany, which SetMany runs)", plainBatches[0], sqliteSetManyVsTx, "", "")
	root("SQLite: 100 concurrent Sets within %s of one plain transaction", plainBatches[2], sqliteConcurrentTx, "", "")
	root("Redis: SetMany of 100 within %s of one plain pipeline", plainBatches[4], redisSetManyVsPipe, "floor", scriptFloor+", one call per shard")
	root("Redis: Get within %s of a plain GET", plainBatch{pkg: "backends/redis", row: "Rotated/Get", name: "livedict", base: "GET",
		ours: "Get/livedict", theirs: "Get/redis"}, redisGetVsPlain, "HMGET", "a plain HMGET of the entry's four fields")
	root("Redis: Set within %s of a plain SET", plainBatch{pkg: "backends/redis", row: "Rotated/Set", name: "livedict", base: "SET",
		ours: "Set/livedict", theirs: "Set/redis"}, redisSetVsPlain, "floor", scriptFloor)
	return ts
}
