package redis_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/proctest"
	"github.com/livedict/livedict/internal/redistest"
)

// workHistory is the worker side of TestLinearizable: arg is "firstID
// durationMs". It records a history once told "go", prints each operation
// as "op <json>", then "done".
func workHistory(arg string) error {
	var first, ms int
	if _, err := fmt.Sscan(arg, &first, &ms); err != nil {
		return fmt.Errorf("arg %q: %v", arg, err)
	}
	s, closeAll, err := workerStore()
	if err != nil {
		return err
	}
	proctest.Say("ready")
	proctest.AwaitGo()
	h := conformance.RecordHistory(bg, s, conformance.HistoryConfig{
		Clients: 3, Keys: 3, Duration: time.Duration(ms) * time.Millisecond, FirstID: first, Seed: uint64(first),
	})
	for _, op := range h {
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		proctest.Say("op %s", b)
	}
	proctest.Say("done")
	return closeAll()
}

// TestLinearizable records a history of Set, Get, Delete and Update from
// goroutines of this process and of two worker processes, on clients with a
// 300ms read timeout, while the server is paused for a second (past the
// read timeout) and later killed and restarted; porcupine checks it
// against a register per key. Operations that report an unknown outcome
// count as possibly taking effect at any time after their call.
// LIVEDICT_LONG=1 runs it longer, with a fault every few seconds.
func TestLinearizable(t *testing.T) {
	url, p := redistest.Server(t)
	if p == nil {
		t.Skip("needs a server this test can stop and restart (LIVEDICT_REDIS_URL is set)")
	}
	d, rounds := 4*time.Second, 1
	if conformance.Long() {
		d, rounds = 60*time.Second, 8
	}
	prefix := uniquePrefix()
	short := url + "?read_timeout=300ms&write_timeout=300ms"
	const workers = 2
	var procs []*proctest.Proc
	for i := range workers {
		w := proctest.Start(t, "history"+strconv.Itoa(i), workerEnv+"=history", urlEnv+"="+short, prefixEnv+"="+prefix,
			argEnv+"="+fmt.Sprintf("%d %d", 100*(i+1), d.Milliseconds()))
		w.Expect("ready")
		procs = append(procs, w)
	}
	stores := []*conformance.Store{storeOn(t, newShortClient(t, url), prefix), storeOn(t, newShortClient(t, url), prefix)}
	for _, w := range procs {
		w.Send("go")
	}
	var mu sync.Mutex
	var all []conformance.HistoryOp
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := conformance.RecordHistory(bg, s, conformance.HistoryConfig{Clients: 3, Keys: 3, Duration: d, FirstID: 10 * i, Seed: uint64(i)})
			mu.Lock()
			all = append(all, h...)
			mu.Unlock()
		}()
	}
	// Faults, spread over the run: a pause past the read timeout, then a
	// crash and restart (the append-only file is synced on every write).
	step := d / time.Duration(2*rounds+1)
	for range rounds {
		time.Sleep(step)
		p.Pause(t)
		time.Sleep(time.Second)
		p.Resume(t)
		time.Sleep(step - time.Second)
		p.Restart(t)
	}
	wg.Wait()
	for _, w := range procs {
		for {
			line, ok := w.Line(time.Minute)
			if !ok {
				t.Fatalf("worker %s ended early; its stderr:\n%s", w.Name(), w.Stderr())
			}
			if line == "done" {
				break
			}
			js, ok := strings.CutPrefix(line, "op ")
			if !ok {
				continue
			}
			var op conformance.HistoryOp
			if err := json.Unmarshal([]byte(js), &op); err != nil {
				t.Fatalf("worker %s: %q: %v", w.Name(), line, err)
			}
			all = append(all, op)
		}
		w.Wait(time.Minute)
	}
	st := conformance.CheckHistory(t, all, 2*time.Minute)
	t.Logf("checked %v from %d processes, over %v with %d pauses and %d restarts", st, 1+workers, d, rounds, rounds)
}
