package main

import "testing"

func TestParseBench(t *testing.T) {
	out := []byte("goos: linux\nBenchmarkEncode/fresh/livedict-2         \t   59430\t      2216 ns/op\t       311.0 bytes\t    1016 B/op\t       7 allocs/op\nPASS\n")
	rows := parseBench(out)
	if len(rows) != 1 || rows[0].Name != "Encode/fresh/livedict" || rows[0].Metrics["ns/op"] != 2216 || rows[0].Metrics["bytes"] != 311 {
		t.Fatalf("got %+v", rows)
	}
}

func TestPairs(t *testing.T) {
	out := []byte("BenchmarkRotated/PutMany100-2 \t 40\t 123 ns/op\t 3000 ns/op-putmany\t 2000 ns/op-sql-one-tx\t 1.5 ratio-putmany/sql-one-tx\t 1.25 ratio-p25-putmany/sql-one-tx\t 1.75 ratio-p75-putmany/sql-one-tx\n")
	rows := parseBench(out)
	if len(rows) != 1 || !isRotated(rows[0]) {
		t.Fatalf("got %+v", rows)
	}
	p, ok := findPair(rows, "Rotated/PutMany100", "putmany", "sql-one-tx")
	if !ok || p.Ratio.Q1 != 1.25 || p.Ratio.Q2 != 1.5 || p.Ratio.Q3 != 1.75 || p.NsName != 3000 || p.NsBase != 2000 {
		t.Fatalf("got %+v, %v", p, ok)
	}
	if got := len(pairs(rows[0])); got != 1 {
		t.Fatalf("%d pairs, want 1 (the quartiles are not pairs)", got)
	}
}

func TestAtMost(t *testing.T) {
	for _, c := range []struct {
		q        ratioQ
		want     verdict
		straddle bool
	}{
		{ratioQ{1.0, 1.05, 1.08, true}, met, false},
		{ratioQ{1.0, 1.05, 1.2, true}, met, true},
		{ratioQ{1.0, 1.15, 1.2, true}, notMet, true},
		{ratioQ{1.12, 1.15, 1.2, true}, notMet, false},
		{ratioQ{}, notMeasured, false},
	} {
		tg := target{}
		atMost(c.q, 1.1, &tg)
		if tg.verdict != c.want || (len(tg.notes) > 0) != c.straddle {
			t.Errorf("%v: got %v %v", c.q, tg.verdict, tg.notes)
		}
	}
}
