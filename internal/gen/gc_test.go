package gen

import (
	"runtime/debug"
	"testing"
)

func gcPercentNow() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestLessGC: runs raise GOGC while any is under way and put the old value
// back when the last ends; a GOGC the user set is left alone.
func TestLessGC(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	first := lessGC()
	second := lessGC()
	if p := gcPercentNow(); p != gcPercent {
		t.Fatalf("GOGC during runs: %d, want %d", p, gcPercent)
	}
	first()
	if p := gcPercentNow(); p != gcPercent {
		t.Fatalf("GOGC while one run is left: %d, want %d", p, gcPercent)
	}
	second()
	if p := gcPercentNow(); p != 150 {
		t.Fatalf("GOGC after the runs: %d, want 150", p)
	}

	debug.SetGCPercent(1000)
	lessGC()()
	if p := gcPercentNow(); p != 1000 {
		t.Fatalf("a higher GOGC became %d", p)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	restore := lessGC()
	if p := gcPercentNow(); p != 50 {
		t.Fatalf("with GOGC=50 set by the user, a run set %d", p)
	}
	restore()
}
