package livedictprom_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedict/livedict"
	example "github.com/livedict/livedict/generated_example"
	"github.com/livedict/livedict/livedictprom"
)

func TestCollector(t *testing.T) {
	s, err := example.NewCounterStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ran := make(chan struct{}, 1)
	if _, err := s.OnSet(func(context.Context, int64, example.Counter) { ran <- struct{}{} }, livedict.HookName("audit")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, 1, example.Counter{Hits: 1}); err != nil {
		t.Fatal(err)
	}
	<-ran
	for _, k := range []int64{1, 1, 1, 2} {
		if _, _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c := livedictprom.NewCollector()
	c.Add("counters", s)
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	want := `
# HELP livedict_hit_ratio Hits / (hits + misses) since the store opened.
# TYPE livedict_hit_ratio gauge
livedict_hit_ratio{store="counters"} 0.75
# HELP livedict_hits_total Gets that found a live value.
# TYPE livedict_hits_total counter
livedict_hits_total{store="counters"} 3
# HELP livedict_misses_total Gets that found none.
# TYPE livedict_misses_total counter
livedict_misses_total{store="counters"} 1
# HELP livedict_sets_total Values written (Set, Update, loads).
# TYPE livedict_sets_total counter
livedict_sets_total{store="counters"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "livedict_hit_ratio", "livedict_hits_total", "livedict_misses_total", "livedict_sets_total"); err != nil {
		t.Error(err)
	}
	// The hook's histogram: one call, under its name and event.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "livedict_hook_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["hook"] == "audit" && labels["event"] == "OnSet" && labels["store"] == "counters" && m.GetHistogram().GetSampleCount() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no livedict_hook_duration_seconds{store=counters,hook=audit,event=OnSet} with one sample in %v", mfs)
	}
	c.Remove("counters")
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d metrics after Remove, want none", n)
	}
}
