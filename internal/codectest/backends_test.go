package codectest

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris loads even where the system has no zoneinfo

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"  // redis://
	_ "github.com/livedict/livedict/backends/sqlite" // sqlite://
	"github.com/livedict/livedict/internal/redistest"
)

// TestBackendsAgree writes values through the generated StampedStore on
// the memory, SQLite and Redis backends and reads them back: every backend
// returns the same value, times keep their instant and Location without
// the monotonic reading, and skipped fields read back zero.
func TestBackendsAgree(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]time.Time{
		"utc":       time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		"local":     time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.Local),
		"named":     time.Date(2025, 7, 14, 15, 9, 26, 535897932, paris),
		"named-old": time.Date(1850, 7, 14, 15, 9, 26, 0, paris), // local mean time, +0:09:21
		"fixed":     time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("EST", -5*3600)),
		"fixed-sec": time.Date(1850, 3, 14, 15, 9, 26, 0, time.FixedZone("LMT", -(4*3600+56*60+2))),
		"monotonic": time.Now(),
		"zero":      {},
	}
	if times["monotonic"] == times["monotonic"].Round(0) {
		t.Fatal("time.Now has no monotonic reading here")
	}
	value := func(tm time.Time) Stamped {
		return Stamped{
			At: tm, Ptr: &tm, List: []time.Time{tm, tm.UTC()},
			ByName: map[string]time.Time{"k": tm}, ByTime: map[time.Time]string{tm: "v"},
			Base: Base{ID: 7, Created: tm}, Note: "n",
			Secret: "s", Cache: map[string]int{"a": 1}, hidden: []byte("h"),
		}
	}
	// What every backend must return: the monotonic readings dropped, the
	// skipped fields zero.
	want := func(tm time.Time) Stamped {
		tm = tm.Round(0)
		v := value(tm)
		v.Secret, v.Cache, v.hidden = "", nil, nil
		return v
	}

	backends := []struct {
		name string
		uri  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "memory://" }},
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "stamped.db"))
		}},
		{"redis", func(t *testing.T) string { url, _ := redistest.Server(t); return url }},
	}
	got := map[string]map[string]Stamped{} // backend, key
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, err := NewStampedStore(livedict.WithURI(b.uri(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for k, tm := range times {
				if err := s.Set(ctx, k, value(tm)); err != nil {
					t.Fatalf("Set %s: %v", k, err)
				}
			}
			got[b.name] = map[string]Stamped{}
			for k, tm := range times {
				v, ok, err := s.Get(ctx, k)
				if err != nil || !ok {
					t.Fatalf("Get %s: %v, %v", k, ok, err)
				}
				got[b.name][k] = v
				if diff := cmp.Diff(want(tm), v, stampedCmp...); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
			var n int
			err = s.Range(ctx, func(k string, v Stamped) bool {
				n++
				if diff := cmp.Diff(want(times[k]), v, stampedCmp...); diff != "" {
					t.Errorf("Range %s (-want +got):\n%s", k, diff)
				}
				return true
			})
			if err != nil || n != len(times) {
				t.Fatalf("Range: %d values, %v", n, err)
			}
		})
	}
	// And the backends agree with each other, not only with want.
	for _, b := range backends[1:] {
		if diff := cmp.Diff(got["memory"], got[b.name], stampedCmp...); diff != "" {
			t.Errorf("memory and %s differ (-memory +%s):\n%s", b.name, b.name, diff)
		}
	}
}

// stampedCmp compares times strictly: the same instant, zone name and
// offset, Location name, no monotonic reading, and for UTC and Local the
// very same Location (so == holds). Maps keyed by time are compared as
// sorted lists, since a named zone's Location is equal by name only.
var stampedCmp = []cmp.Option{
	cmp.AllowUnexported(Stamped{}),
	cmp.Comparer(sameTime),
	cmp.Transformer("byTime", func(m map[time.Time]string) []timeEntry {
		if m == nil {
			return nil
		}
		out := make([]timeEntry, 0, len(m))
		for k, v := range m {
			out = append(out, timeEntry{k, v})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].K.Before(out[j].K) })
		return out
	}),
}

type timeEntry struct {
	K time.Time
	V string
}

func sameTime(a, b time.Time) bool {
	if a != a.Round(0) || b != b.Round(0) {
		return false // a monotonic reading
	}
	an, ao := a.Zone()
	bn, bo := b.Zone()
	if !a.Equal(b) || an != bn || ao != bo || a.Location().String() != b.Location().String() {
		return false
	}
	switch a.Location() {
	case time.UTC, time.Local:
		return a == b
	}
	return b.Location() != time.UTC && b.Location() != time.Local
}
