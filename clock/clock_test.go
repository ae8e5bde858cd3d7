package clock

import (
	"sync"
	"testing"
	"time"
)

// TestResetDueWhileAdvancing: a timer reset to fire at once while an
// Advance delivers its earlier deadline neither blocks nor loses the tick.
func TestResetDueWhileAdvancing(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Millisecond)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				f.Advance(time.Millisecond)
			}
		}
	}()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for range 100_000 {
			tm.Reset(time.Millisecond) // armed; an Advance may find it due
			tm.Stop()
			tm.Reset(0)
			<-tm.C() // the tick of Reset(0), or of the Advance that beat it
		}
	}()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("Reset(0) blocked: its tick's channel was full")
	}
	close(done)
	wg.Wait()
}
