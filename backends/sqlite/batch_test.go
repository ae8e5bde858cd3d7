package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
)

// batchNow is the time of the batch tests' operations.
const batchNow = int64(1_000_000)

// batchState writes the same entries into a bucket of every file it is
// given: live ones with and without a deadline, an expired one that no
// sweep moved, and two unreadable ones.
func batchState(t *testing.T, b *sqlite.Backend, raw backend.Bucket[string, []byte], name string) {
	t.Helper()
	put := func(key string, deadline, at int64) {
		t.Helper()
		if _, err := raw.Put(bg, key, backend.Write[[]byte]{Value: []byte("v-" + key), Deadline: deadline}, at); err != nil {
			t.Fatalf("Put(%s): %v", key, err)
		}
	}
	put("live1", batchNow+10_000, batchNow)
	put("live2", 0, batchNow)
	put("expired", batchNow-10, batchNow-1000)
	put("expired2", batchNow-5, batchNow-1000)
	put("corrupt", batchNow+10_000, batchNow)
	put("typed", batchNow+10_000, batchNow)
	damage(t, b, name, "corrupt", conformance.FaultDeadline)
	damage(t, b, name, "typed", conformance.FaultType)
}

// read is a Read with its error as text, to compare.
type read struct {
	Entry backend.Entry[[]byte]
	Found bool
	Err   string
}

func reads(rs []backend.Read[[]byte]) []read {
	out := make([]read, len(rs))
	for i, r := range rs {
		out[i] = read{Entry: r.Entry, Found: r.Found, Err: errText(r.Err)}
	}
	return out
}

type written struct {
	Result backend.WriteResult[string, []byte]
	Err    string
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fileDump is everything livedict keeps in a file, with what differs
// between two bucket handles (the owner of a claim) left out.
func fileDump(t *testing.T, b *sqlite.Backend) []string {
	t.Helper()
	db := plainDB(t, b.Path())
	var out []string
	for _, q := range []string{
		`SELECT bucket, key, value, deadline, version, accessed, idle FROM livedict_entries ORDER BY bucket, key`,
		`SELECT id, bucket, key, value, deadline, owner IS NOT NULL, claimed_until FROM livedict_outbox ORDER BY id`,
		`SELECT bucket, seq, fence FROM livedict_buckets ORDER BY bucket`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if p, ok := v.([]byte); ok {
					vals[i] = string(p)
				}
			}
			out = append(out, fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// TestBatchesAsSingleOperations runs each batch on one file and the same
// operations one key at a time on another file holding the same data:
// every key's result, and then the files, must be the same.
func TestBatchesAsSingleOperations(t *testing.T) {
	plain := backend.BucketConfig{Name: "b"}
	many := make([]string, 0, 310)
	for i := range 300 {
		many = append(many, fmt.Sprintf("m%03d", i))
	}
	many = append(many, "live1", "gone1", "gone2", "corrupt", "m007", "expired")
	type version func(key string) uint64
	// sliding adds sliding entries to batchState's.
	sliding := func(t *testing.T, raw backend.Bucket[string, []byte]) {
		for _, e := range []struct {
			key  string
			idle int64
		}{{"s1", 5000}, {"s2", 100}} {
			if _, err := raw.Put(bg, e.key, backend.Write[[]byte]{Value: []byte(e.key), Deadline: batchNow + e.idle, Idle: e.idle}, batchNow); err != nil {
				t.Fatal(err)
			}
		}
	}
	lru := backend.BucketConfig{Name: "b", Limit: backend.Limit{MaxKeys: 10, Policy: backend.EvictLRU}}
	cases := []struct {
		name  string
		cfg   backend.BucketConfig
		setup func(t *testing.T, raw backend.Bucket[string, []byte])
		get   []string
		put   func(v version) []backend.KeyWrite[string, []byte]
		del   []string
	}{
		{name: "get/mixed", cfg: plain, get: []string{"live1", "gone", "expired", "corrupt", "live2", "live1", "typed"}},
		{name: "get/empty", cfg: plain, get: []string{}},
		{name: "get/chunks", cfg: plain, get: many, setup: func(t *testing.T, raw backend.Bucket[string, []byte]) {
			for _, k := range many[:300] {
				if _, err := raw.Put(bg, k, backend.Write[[]byte]{Value: []byte(k)}, batchNow); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "get/lru", cfg: lru, get: []string{"live2", "gone", "live1", "corrupt", "live2"}},
		{name: "get/sliding", cfg: plain, setup: sliding, get: []string{"s1", "live1", "s2", "s1"}},
		{name: "get/sliding-lru", cfg: lru, setup: sliding, get: []string{"s1", "live1", "s2", "s1"}},
		{name: "put/sliding", cfg: plain, setup: sliding, put: func(version) []backend.KeyWrite[string, []byte] {
			return []backend.KeyWrite[string, []byte]{
				{Key: "s1", Write: backend.Write[[]byte]{Value: []byte("k"), KeepTTL: true}},
				{Key: "s2", Write: backend.Write[[]byte]{Value: []byte("f"), Deadline: batchNow + 50}},
				{Key: "new", Write: backend.Write[[]byte]{Value: []byte("n"), Deadline: batchNow + 300, Idle: 300}},
				{Key: "s1", Write: backend.Write[[]byte]{Value: []byte("p"), Deadline: batchNow + 70, Idle: 70, WantPrev: true}},
				{Key: "expired", Write: backend.Write[[]byte]{Value: []byte("e"), Deadline: batchNow + 40, Idle: 40, KeepTTL: true}},
				{Key: "new", Write: backend.Write[[]byte]{Value: []byte("n2"), KeepTTL: true, WantPrev: true}},
			}
		}},
		{name: "delete/sliding", cfg: plain, setup: sliding, del: []string{"s1", "live1", "s2"}},
		{name: "put/mixed", cfg: plain, put: func(v version) []backend.KeyWrite[string, []byte] {
			return []backend.KeyWrite[string, []byte]{
				{Key: "new", Write: backend.Write[[]byte]{Value: []byte("n1"), Deadline: batchNow + 500}},
				{Key: "live1", Write: backend.Write[[]byte]{Value: []byte("l1"), WantPrev: true}},
				{Key: "live2", Write: backend.Write[[]byte]{Value: []byte("l2"), Deadline: batchNow + 7, KeepTTL: true}},
				{Key: "expired", Write: backend.Write[[]byte]{Value: []byte("e")}},
				{Key: "expired2", Write: backend.Write[[]byte]{Value: []byte("e2"), ClaimDisplaced: time.Minute}},
				{Key: "corrupt", Write: backend.Write[[]byte]{Value: []byte("c")}},
				{Key: "typed", Write: backend.Write[[]byte]{Value: []byte("t"), KeepTTL: true}},
				{Key: "live2", Write: backend.Write[[]byte]{Value: []byte("stale"), Conditional: true, IfVersion: v("live2")}},
				{Key: "new", Write: backend.Write[[]byte]{Value: []byte("n3"), Conditional: true, IfVersion: 999}},
				{Key: "absent", Write: backend.Write[[]byte]{Value: []byte("a"), Conditional: true}},
				{Key: "live1", Write: backend.Write[[]byte]{Value: []byte("l1b"), Conditional: true}},
				{Key: "", Write: backend.Write[[]byte]{}},
			}
		}},
		{name: "put/conditional", cfg: plain, put: func(v version) []backend.KeyWrite[string, []byte] {
			return []backend.KeyWrite[string, []byte]{
				{Key: "live1", Write: backend.Write[[]byte]{Value: []byte("x"), Conditional: true, IfVersion: v("live1")}},
				{Key: "live2", Write: backend.Write[[]byte]{Value: []byte("y"), Conditional: true, IfVersion: v("live1")}},
				{Key: "live1", Write: backend.Write[[]byte]{Value: []byte("z"), Conditional: true, IfVersion: v("live1")}},
			}
		}},
		{name: "put/reject", cfg: backend.BucketConfig{Name: "b", Limit: backend.Limit{MaxKeys: 6, Policy: backend.RejectNew}},
			put: func(version) []backend.KeyWrite[string, []byte] {
				return []backend.KeyWrite[string, []byte]{
					{Key: "n1", Write: backend.Write[[]byte]{Value: []byte("1")}},
					{Key: "n2", Write: backend.Write[[]byte]{Value: []byte("2")}},
					{Key: "live1", Write: backend.Write[[]byte]{Value: []byte("3")}},
					{Key: "expired", Write: backend.Write[[]byte]{Value: []byte("4")}},
					{Key: "n3", Write: backend.Write[[]byte]{Value: []byte("5")}},
				}
			}},
		{name: "put/evict", cfg: backend.BucketConfig{Name: "b", Limit: backend.Limit{MaxKeys: 5, Policy: backend.EvictLRU}},
			put: func(version) []backend.KeyWrite[string, []byte] {
				return []backend.KeyWrite[string, []byte]{
					{Key: "n1", Write: backend.Write[[]byte]{Value: []byte("1")}},
					{Key: "n2", Write: backend.Write[[]byte]{Value: []byte("2")}},
					{Key: "n1", Write: backend.Write[[]byte]{Value: []byte("3")}},
					{Key: "n3", Write: backend.Write[[]byte]{Value: []byte("4"), WantPrev: true}},
				}
			}},
		{name: "put/retention", cfg: backend.BucketConfig{Name: "b", Retention: 1},
			put: func(version) []backend.KeyWrite[string, []byte] {
				return []backend.KeyWrite[string, []byte]{
					{Key: "expired", Write: backend.Write[[]byte]{Value: []byte("1")}},
					{Key: "expired2", Write: backend.Write[[]byte]{Value: []byte("2")}},
				}
			}},
		{name: "put/empty", cfg: plain, put: func(version) []backend.KeyWrite[string, []byte] { return nil }},
		{name: "delete/mixed", cfg: plain, del: []string{"live1", "gone", "expired", "corrupt", "live1", "typed", "live2"}},
		{name: "delete/empty", cfg: plain, del: []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// one gets the single operations, many the batch.
			dir := t.TempDir()
			oneB, manyB := openAt(t, filepath.Join(dir, "one.db")), openAt(t, filepath.Join(dir, "many.db"))
			one, manyR := rawBucket(t, oneB, c.cfg), rawBucket(t, manyB, c.cfg)
			for _, s := range []struct {
				b   *sqlite.Backend
				raw backend.Bucket[string, []byte]
			}{{oneB, one}, {manyB, manyR}} {
				batchState(t, s.b, s.raw, c.cfg.Name)
				if c.setup != nil {
					c.setup(t, s.raw)
				}
			}
			if d := cmp.Diff(fileDump(t, oneB), fileDump(t, manyB)); d != "" {
				t.Fatalf("the two files differ before the operations (-one +many):\n%s", d)
			}
			batcher := manyR.(backend.Batcher[string, []byte])
			var got, want any
			// readsOf runs single for each key and many for all of them.
			readsOf := func(keys []string, single func(context.Context, string, int64) (backend.Entry[[]byte], bool, error),
				many func(context.Context, []string, int64) ([]backend.Read[[]byte], error)) {
				var singles []backend.Read[[]byte]
				for _, k := range keys {
					e, ok, err := single(bg, k, batchNow)
					singles = append(singles, backend.Read[[]byte]{Entry: e, Found: ok, Err: err})
				}
				rs, err := many(bg, keys, batchNow)
				if err != nil || len(rs) != len(keys) {
					t.Fatalf("batch of %d keys = %d results, %v", len(keys), len(rs), err)
				}
				got, want = reads(rs), reads(singles)
			}
			switch {
			case c.get != nil:
				readsOf(c.get, one.Get, batcher.GetMany)
			case c.del != nil:
				readsOf(c.del, one.Delete, batcher.DeleteMany)
			default:
				ws := c.put(func(key string) uint64 {
					e, _, _ := one.Get(bg, key, batchNow)
					return e.Version
				})
				var singles []written
				for _, w := range ws {
					res, err := one.Put(bg, w.Key, w.Write, batchNow)
					singles = append(singles, written{res, errText(err)})
				}
				rs, err := batcher.PutMany(bg, ws, batchNow)
				if err != nil || len(rs) != len(ws) {
					t.Fatalf("PutMany = %d results, %v", len(rs), err)
				}
				var batch []written
				for _, r := range rs {
					batch = append(batch, written{r.Result, errText(r.Err)})
				}
				got, want = batch, singles
				if a, b := one.DroppedExpired(), manyR.DroppedExpired(); a != b {
					t.Errorf("DroppedExpired: %d one at a time, %d in a batch", a, b)
				}
				if a, b := sqlite.InFlight(one), sqlite.InFlight(manyR); a != b {
					t.Errorf("events in flight: %d one at a time, %d in a batch", a, b)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("results differ (-one at a time +batch):\n%s", d)
			}
			if d := cmp.Diff(fileDump(t, oneB), fileDump(t, manyB)); d != "" {
				t.Errorf("the files differ after the operations (-one at a time +batch):\n%s", d)
			}
		})
	}
}

// TestBatchWholeFailure: a batch whose commit fails returns the error and
// no results, and none of its writes is there.
func TestBatchWholeFailure(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "b"})
	batcher := raw.(backend.Batcher[string, []byte])
	stop := sqlite.FailCommits(b, 0)
	defer stop()
	ws := []backend.KeyWrite[string, []byte]{{Key: "a"}, {Key: "b"}}
	if rs, err := batcher.PutMany(bg, ws, batchNow); err == nil || rs != nil {
		t.Errorf("PutMany with a failed commit = %v, %v; want nil and an error", rs, err)
	}
	if rs, err := batcher.DeleteMany(bg, []string{"a"}, batchNow); err == nil || rs != nil {
		t.Errorf("DeleteMany with a failed commit = %v, %v; want nil and an error", rs, err)
	}
	stop()
	if rs, err := batcher.GetMany(bg, []string{"a", "b"}, batchNow); err != nil || rs[0].Found || rs[1].Found {
		t.Errorf("GetMany after a failed PutMany = %+v, %v; want nothing found", rs, err)
	}
}
