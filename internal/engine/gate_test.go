package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSweepGate(t *testing.T) {
	var g sweepGate
	bg := context.Background()
	// A sweep waits for the write in flight.
	if err := g.enter(bg); err != nil {
		t.Fatal(err)
	}
	swept := make(chan struct{})
	go func() { g.sweep(); close(swept) }()
	select {
	case <-swept:
		t.Fatal("the sweep took the gate while a write was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	g.leave()
	<-swept
	// A write meeting the sweep gives up when its ctx ends...
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	if err := g.enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter during a sweep = %v; want the ctx's error", err)
	}
	// ...and one that waits gets in when the sweep ends.
	entered := make(chan error)
	go func() { entered <- g.enter(bg) }()
	select {
	case <-entered:
		t.Fatal("a write entered during a sweep")
	case <-time.After(20 * time.Millisecond):
	}
	g.done()
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
	g.leave()
	// With no write in flight, a sweep takes the gate at once.
	g.sweep()
	g.done()
}
