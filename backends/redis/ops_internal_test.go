package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/internal/redistest"
)

// TestQueuedWritesShareCalls checks that single Puts and Deletes of
// different callers that queue while a pipeline is in flight go out as
// one script call per shard, each with its own result. The test holds the
// only pipeline slot while the writes queue, with contexts that can end
// (so they queue for the loops, not send themselves).
func TestQueuedWritesShareCalls(t *testing.T) {
	url, _ := redistest.Server(t)
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	b, err := New(c, WithPrefix("share"), WithShards(2), WithPipelines(1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bb, err := b.Bucket(context.Background(), backend.BucketConfig{Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	bk := bb.(*bucket)
	defer bk.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UnixMilli()
	// Keys 0..59 exist; the writes put 0..119 and delete 0..29.
	for i := range 60 {
		if _, err := bk.Put(ctx, "k"+strconv.Itoa(i), backend.Write[[]byte]{Value: []byte("old")}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b.bt.slots <- struct{}{} // the pipeline slot, held
	const puts, dels = 120, 30
	var wg sync.WaitGroup
	errs := make([]error, puts+dels)
	prev := make([]string, puts)
	found := make([]bool, dels)
	for i := range puts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := bk.Put(ctx, "k"+strconv.Itoa(i), backend.Write[[]byte]{Value: []byte("new" + strconv.Itoa(i)), WantPrev: true}, now)
			errs[i], prev[i] = err, string(r.Prev.Value)
		}()
	}
	for i := range dels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The deletes of keys the puts write too are left out: the
			// two orders give different results.
			_, found[i], errs[puts+i] = bk.Delete(ctx, "d"+strconv.Itoa(i), now)
		}()
	}
	// Let the writes queue behind the held slot, then free it.
	time.Sleep(500 * time.Millisecond)
	<-b.bt.slots
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	for i := range puts {
		want := ""
		if i < 60 {
			want = "old"
		}
		if prev[i] != want {
			t.Errorf("Put k%d replaced %q, want %q", i, prev[i], want)
		}
		e, ok, err := bk.Get(ctx, "k"+strconv.Itoa(i), now)
		if err != nil || !ok || string(e.Value) != "new"+strconv.Itoa(i) {
			t.Errorf("Get k%d = %q, %v, %v", i, e.Value, ok, err)
		}
	}
	for i, ok := range found {
		if ok {
			t.Errorf("Delete d%d found an entry", i)
		}
	}
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := -1
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			calls, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
	}
	// 150 writes of 2 shards in pipelines of up to maxBatch requests: a
	// few calls, where one per write would be 150.
	t.Logf("%d writes in %d script calls", puts+dels, calls)
	if calls < 1 || calls > 20 {
		t.Errorf("%d writes took %d script calls, want a few (one per shard and kind of write for each pipeline)", puts+dels, calls)
	}
}

// TestScriptErrorOutcomeUnknown checks how the error of a script call is
// reported: one the script raised as it ran (here a shard's deadline
// index that another client turned into a string, so the ZADD after the
// entry's HSET fails) leaves the writes of the call unknown, for every op
// the call carried; one Redis gives before running it (OOM) means nothing
// was written.
func TestScriptErrorOutcomeUnknown(t *testing.T) {
	url, _ := redistest.Server(t)
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	b, err := New(c, WithPrefix("fail"), WithShards(1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	bb, err := b.Bucket(ctx, backend.BucketConfig{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	bk := bb.(*bucket)
	defer bk.Close()
	now := time.Now().UnixMilli()
	if err := c.Set(ctx, bk.tags[0]+":dl", "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := backend.Write[[]byte]{Value: []byte("v"), Deadline: now + 60_000}
	if _, err := bk.Put(ctx, "one", w, now); !isUnknown(err) {
		t.Errorf("Put on a broken deadline index = %v, want ErrOutcomeUnknown", err)
	}
	res, err := bk.PutMany(ctx, []backend.KeyWrite[string, []byte]{{Key: "a", Write: w}, {Key: "b", Write: w}, {Key: "c", Write: w}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !isUnknown(r.Err) {
			t.Errorf("PutMany write %d on a broken deadline index = %v, want ErrOutcomeUnknown", i, r.Err)
		}
	}
	// The writes did happen up to the failure: the entries are there.
	if n := c.Exists(ctx, bk.tags[0]+":e:a", bk.tags[0]+":e:c").Val(); n != 2 {
		t.Errorf("%d of the entries the failed call wrote are there, want 2", n)
	}
	c.Del(ctx, bk.tags[0]+":dl")

	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer c.ConfigSet(ctx, "maxmemory", "0")
	_, err = bk.Put(ctx, "oom", w, now)
	if err == nil || isUnknown(err) || !strings.Contains(err.Error(), "OOM") {
		t.Errorf("Put over maxmemory = %v, want the OOM error, not an unknown outcome", err)
	}
}

func isUnknown(err error) bool {
	return err != nil && strings.Contains(fmt.Sprint(err), backend.ErrOutcomeUnknown.Error())
}
