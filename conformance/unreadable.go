package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict"
)

// unreadableTests run on backends whose harness can damage entries below
// the byte bucket (Harness.Damage).
var unreadableTests = []subtest{
	{name: "UnreadableRecordSkippedBySweep", fn: testUnreadableSweep},
	{name: "UnreadableRecordOperations", fn: testUnreadableOps},
}

// logCapture is a slog handler that keeps the records at Error level.
type logCapture struct {
	mu   sync.Mutex
	recs []string // message, then key=... attributes
}

func (c *logCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *logCapture) WithGroup(string) slog.Handler                { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	c.mu.Lock()
	c.recs = append(c.recs, line)
	c.mu.Unlock()
	return nil
}

// count returns how many kept records contain all of parts.
func (c *logCapture) count(parts ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
next:
	for _, r := range c.recs {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func (f *fixture) damage(bucket, key string, fault Fault) bool {
	f.t.Helper()
	if f.h.Damage == nil || f.be == nil {
		f.t.Skip("the harness cannot damage entries (Harness.Damage)")
	}
	return f.h.Damage(f.t, f.be, bucket, key, fault)
}

// testUnreadableSweep: an entry the backend cannot read (for each Fault)
// among due ones is skipped by the sweep, reported once with its key, and
// left in place; every other due key, in whatever shard, expires and fires.
func testUnreadableSweep(t *testing.T, f *fixture) {
	for _, fault := range []Fault{FaultDeadline, FaultType} {
		t.Run(fault.String(), func(t *testing.T) {
			f := f.child(t)
			bucket := "unreadable-sweep-" + strings.ToLower(fault.String())
			logs := &logCapture{}
			s := f.store(livedict.WithBucket(bucket), livedict.WithLogger(slog.New(logs)))
			rec := newRecorder()
			s.OnExpire(rec.hook("expire"))
			const due = 59 // the count: over every shard
			for i := range due {
				set(t, s, fmt.Sprintf("due-%02d", i), item("due", int64(i)), livedict.TTL(10*time.Millisecond))
			}
			set(t, s, "bad", item("bad", 0), livedict.TTL(10*time.Millisecond))
			swept := f.damage(bucket, "bad", fault)

			f.clk.Advance(10 * time.Millisecond)
			evs := rec.wait(t, due)
			// More rounds of the scheduler (polls of a shared backend):
			// the record is still not reported twice.
			for range 5 {
				f.clk.Advance(time.Second)
				time.Sleep(5 * time.Millisecond)
			}
			waitStable(t, "no more events", func() bool { return rec.len() == due })
			for _, e := range evs {
				if e.Key == "bad" {
					t.Fatalf("the unreadable record fired OnExpire: %+v", e)
				}
			}
			want := 0
			if swept {
				want = 1
			}
			if swept {
				waitFor(t, "the unreadable record reported", func() bool { return logs.count("bad") >= 1 })
			}
			if n := logs.count("key=bad", "cannot be read"); n != want {
				t.Fatalf("the unreadable record was reported %d times, want %d; log: %q", n, want, logs.recs)
			}
			if n := logs.count("sweep failed"); n != 0 {
				t.Fatalf("the sweep failed %d times; log: %q", n, logs.recs)
			}
			// Left in place: still there, still unreadable.
			_, _, err := s.Get(bg, "bad")
			wantCorrupt(t, "Get(bad) after the sweeps", err, "bad")
			if swept {
				logs.mu.Lock()
				line := logs.recs[0]
				logs.mu.Unlock()
				if !strings.Contains(line, "corrupt") || !strings.Contains(line, bucket) {
					t.Fatalf("report %q does not name the bucket and say the record is corrupt", line)
				}
			}
		})
	}
}

// testUnreadableOps: Get, Has, TTL, Update and Range report an unreadable
// entry as ErrCorrupt naming the key; a Set replaces it, unless it keeps
// its TTL; a Delete removes it and reports it.
func testUnreadableOps(t *testing.T, f *fixture) {
	for _, fault := range []Fault{FaultDeadline, FaultType} {
		t.Run(fault.String(), func(t *testing.T) {
			f := f.child(t)
			bucket := "unreadable-ops-" + strings.ToLower(fault.String())
			s := f.store(livedict.WithBucket(bucket), livedict.WithLogger(quietLogger()))
			for _, k := range []string{"bad-read", "bad-set", "bad-del"} {
				set(t, s, k, item(k, 1), livedict.TTL(time.Hour))
				f.damage(bucket, k, fault)
			}
			set(t, s, "good", item("good", 1))

			_, ok, err := s.Get(bg, "bad-read")
			wantCorrupt(t, "Get", err, "bad-read")
			var re *livedict.RecordError
			if !errors.As(err, &re) || re.Key != "bad-read" || re.Bucket != bucket {
				t.Fatalf("Get: error %v is not a RecordError naming bucket %q, key bad-read", err, bucket)
			}
			if ok {
				t.Fatalf("Get reported a value with its error")
			}
			ok, err = s.Has(bg, "bad-read")
			wantCorrupt(t, "Has", err, "bad-read")
			if ok {
				t.Fatalf("Has = true with an error; it reports false and the error")
			}
			_, ok, err = s.TTL(bg, "bad-read")
			wantCorrupt(t, "TTL", err, "bad-read")
			if ok {
				t.Fatalf("TTL reported a deadline with its error")
			}
			err = s.Update(bg, "bad-read", func(cur Item, _ bool) (Item, bool, error) { return item("x", 2), true, nil })
			wantCorrupt(t, "Update", err, "bad-read")
			err = s.Set(bg, "bad-read", item("x", 2), livedict.KeepTTL())
			wantCorrupt(t, "Set with KeepTTL", err, "bad-read")
			err = s.Range(bg, func(string, Item) bool { return true })
			wantCorrupt(t, "Range", err, "bad-read", "bad-set", "bad-del")
			// Still unreadable after all that.
			_, _, err = s.Get(bg, "bad-read")
			wantCorrupt(t, "Get again", err, "bad-read")

			set(t, s, "bad-set", item("new", 3))
			wantValue(t, s, "bad-set", item("new", 3))

			ok, err = s.Delete(bg, "bad-del")
			wantCorrupt(t, "Delete", err, "bad-del")
			if !ok {
				t.Fatalf("Delete of an unreadable record = false; it removes it and reports true")
			}
			wantMissing(t, s, "bad-del")
			wantValue(t, s, "good", item("good", 1))
		})
	}
}
