package conformance

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

// recordTests run on byte backends only (Harness.Raw): they plant records
// under the store's feet.
var recordTests = []subtest{
	{name: "CorruptRecordLeftInPlace", fn: testCorruptRecord},
	{name: "OtherBucketUntouched", fn: testOtherBucketUntouched},
}

// plant writes a raw record.
func plant(t testing.TB, raw backend.Bucket[string, []byte], key string, data []byte, deadline, now int64) {
	t.Helper()
	if _, err := raw.Put(bg, key, backend.Write[[]byte]{Value: data, Deadline: deadline}, now); err != nil {
		t.Fatalf("raw Put(%q): %v", key, err)
	}
}

func mustEncode(t testing.TB, v Item) []byte {
	t.Helper()
	data, err := appendItem(nil, &v)
	if err != nil {
		t.Fatalf("encoding %+v: %v", v, err)
	}
	return data
}

// wantRaw checks that the raw record of key is still there, unchanged.
func wantRaw(t testing.TB, raw backend.Bucket[string, []byte], key string, data []byte, now int64) {
	t.Helper()
	e, ok, err := raw.Get(bg, key, now)
	if err != nil || !ok {
		t.Fatalf("raw Get(%q) = %v, %v: the record is gone", key, ok, err)
	}
	if !bytes.Equal(e.Value, data) {
		t.Fatalf("raw record %q = %q, want it unchanged: %q", key, e.Value, data)
	}
}

// wantCorrupt checks that err reports the records of keys as corrupt.
func wantCorrupt(t testing.TB, what string, err error, keys ...string) {
	t.Helper()
	if !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("%s: error %v, want one matching ErrCorrupt", what, err)
	}
	for _, k := range keys {
		if !strings.Contains(err.Error(), k) {
			t.Fatalf("%s: error %q does not name the key %q", what, err, k)
		}
	}
}

// testCorruptRecord: a record that does not decode makes Get (and Update)
// fail with ErrCorrupt naming the key, makes Range report it after visiting
// the good keys, and is left in place.
func testCorruptRecord(t *testing.T, f *fixture) {
	const bucket = "records"
	raw := f.raw(bucket)
	s := f.store(livedict.WithBucket(bucket))
	good := map[string]Item{"good1": item("good1", 1), "good2": item("good2", 2)}
	for k, v := range good {
		set(t, s, k, v)
	}
	now := f.nowMs()
	bad := map[string][]byte{
		"bad-format":    {0xff, 0x01, 0x02},
		"bad-truncated": {itemFormat, 5, 'a'},
		"bad-empty":     {},
		"bad-trailing":  append(mustEncode(t, Item{Name: "x"}), 0),
	}
	badKeys := slices.Sorted(maps.Keys(bad))
	for _, k := range badKeys {
		plant(t, raw, k, bad[k], 0, now)
	}

	for _, k := range badKeys {
		v, ok, err := s.Get(bg, k)
		wantCorrupt(t, "Get("+k+")", err, k)
		if ok {
			t.Fatalf("Get(%q) = %+v, true with an error", k, v)
		}
		var re *livedict.RecordError
		if errors.As(err, &re) && (re.Key != k || re.Bucket != bucket) {
			t.Fatalf("Get(%q): RecordError names bucket %q, key %q", k, re.Bucket, re.Key)
		}
		err = s.Update(bg, k, func(cur Item, _ bool) (Item, bool, error) { return item("over", 9), true, nil })
		wantCorrupt(t, "Update("+k+")", err, k)
	}

	visited := map[string]Item{}
	err := s.Range(bg, func(k string, v Item) bool { visited[k] = v; return true })
	wantCorrupt(t, "Range", err, badKeys...)
	if d := cmp.Diff(good, visited); d != "" {
		t.Fatalf("Range with corrupt records visited (-want +got):\n%s", d)
	}
	for _, k := range badKeys {
		wantRaw(t, raw, k, bad[k], f.nowMs())
	}
	// The store goes on working.
	set(t, s, "good3", item("good3", 3))
	wantValue(t, s, "good1", good["good1"])
}

// testOtherBucketUntouched: a store never reads, counts, lists, clears or
// expires the records of another bucket on its backend, even ones that do
// not decode or carry the same keys.
func testOtherBucketUntouched(t *testing.T, f *fixture) {
	other := f.raw("other")
	now := f.nowMs()
	foreign := item("foreign", 1)
	encoded := mustEncode(t, foreign)
	planted := map[string][]byte{
		"x-good": encoded,
		"x-bad":  {0xff},
		"shared": encoded,
	}
	for k, data := range planted {
		plant(t, other, k, data, 0, now)
	}
	plant(t, other, "x-exp", encoded, now+10, now)

	s := f.store(livedict.WithBucket("mine"))
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "m1", item("m1", 1))
	set(t, s, "shared", item("mine", 2))
	set(t, s, "m-exp", item("m-exp", 3), livedict.TTL(10*time.Millisecond))

	wantLen(t, s, 3)
	wantKeys(t, s, "m-exp", "m1", "shared")
	if d := cmp.Diff(map[string]Item{"m1": item("m1", 1), "shared": item("mine", 2), "m-exp": item("m-exp", 3)}, contents(t, s)); d != "" {
		t.Fatalf("Range (-want +got):\n%s", d)
	}
	wantMissing(t, s, "x-good")
	wantMissing(t, s, "x-bad")
	wantValue(t, s, "shared", item("mine", 2))

	f.clk.Advance(10 * time.Millisecond)
	rec.wait(t, 1)
	wantLen(t, s, 2)
	if err := s.Clear(bg); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantLen(t, s, 0)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "m-exp", item("m-exp", 3)}})
	for k, data := range planted {
		wantRaw(t, other, k, data, f.nowMs())
	}
	// Not swept by the store's scheduler: still there for a reader at the
	// time it was planted.
	wantRaw(t, other, "x-exp", encoded, now)
	if n, err := other.Len(bg, now); err != nil || n != 4 {
		t.Fatalf("raw Len of the other bucket = %d, %v; want 4", n, err)
	}
}
