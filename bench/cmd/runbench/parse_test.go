package main

import "testing"

func TestParseBench(t *testing.T) {
	out := []byte("goos: linux\nBenchmarkEncode/fresh/livedict-2         \t   59430\t      2216 ns/op\t       311.0 bytes\t    1016 B/op\t       7 allocs/op\nPASS\n")
	rows := parseBench(out)
	if len(rows) != 1 || rows[0].Name != "Encode/fresh/livedict" || rows[0].Metrics["ns/op"] != 2216 || rows[0].Metrics["bytes"] != 311 {
		t.Fatalf("got %+v", rows)
	}
}
