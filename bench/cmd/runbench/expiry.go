package main

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/internal/rusage"
	"github.com/livedict/livedict/bench/model"
)

// expiryResult is what one expiry child reports.
type expiryResult struct {
	Cache       string
	Keys        int
	Spread      time.Duration // deadlines fall due over this long
	PerEntryTTL bool
	InsertTime  time.Duration
	Overran     int           // keys whose deadline had passed before the insertion ended
	SetLate     int           // keys whose deadline had passed (or was under minTTL away) at their Set, moved
	SetLateMax  time.Duration // the most a deadline was moved
	FailedSets  uint64        // Sets the cache refused (livedict's errors; the others report none)
	FailedSet   string        // the first refusal's error
	Fired       int
	Duplicates  int
	Early       int // callbacks more than 1ms before the deadline
	P50, P99    time.Duration
	Max         time.Duration
	Window      time.Duration // from the end of the insertion to the last callback (or the give-up)
	Ended       string        // why the wait ended: endAll, endIdle or endCap
	CPU         time.Duration // process CPU in the window, less the readers' threads
	ReaderCPU   time.Duration
	Reads       int64
	StaleReads  int64         // values returned after their deadline (past the cache's own rounding)
	MaxStale    time.Duration // how long after its deadline the stalest of them was read
	StaleAgain  int64         // stale reads that a second read of the key repeated
	StaleFirst  string        // the first stale read, for whoever looks into it
	// WallStale counts reads stale by the wall clock only: the wall clock
	// stepped ahead of the monotonic one, by which deadlines and reads
	// are judged (a TTL is a duration from the Set).
	WallStale int64
	// Runs, when the workload ran more than once for this cache, sums up
	// every run, in order; the rest of the result is the median run's.
	Runs     []runSummary  `json:",omitempty"`
	Dropped  uint64        // expiries the cache counted as dropped (livedict Stats().ExpiredDropped)
	Interval string        // sweep setting chosen for the cache, when it has one
	Lead     time.Duration // from the start of the insertion to the first deadline
	Error    string
}

// runSummary is one run of the expiry workload, in short.
type runSummary struct {
	P99, Max, CPU     time.Duration
	Reads, StaleReads int64
	Error             string `json:",omitempty"`
}

// repeatsExpiry reports whether the expiry workload runs more than once
// for cache: for the two the targets compare.
func repeatsExpiry(cache string) bool { return cache == caches.Livedict || cache == caches.Otter }

// medianRun returns the run of runs whose p99 lateness is the median (the
// lower middle one of an even count), with every run summed up in Runs; a
// failed run counts as the latest. A single run is returned as it is.
func medianRun(runs []expiryResult) expiryResult {
	if len(runs) == 1 {
		return runs[0]
	}
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	key := func(e expiryResult) time.Duration {
		if e.Error != "" || e.Fired < e.Keys {
			return time.Duration(math.MaxInt64)
		}
		return e.P99
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(runs[a]), key(runs[b])) })
	m := runs[idx[(len(idx)-1)/2]]
	m.Runs = nil
	for _, e := range runs {
		m.Runs = append(m.Runs, runSummary{P99: e.P99, Max: e.Max, CPU: e.CPU, Reads: e.Reads, StaleReads: e.StaleReads, Error: e.Error})
	}
	return m
}

// allStale returns the reads and stale reads of every run of e.
func (e *expiryResult) allStale() (reads, stale int64) {
	if len(e.Runs) == 0 {
		return e.Reads, e.StaleReads
	}
	for _, r := range e.Runs {
		reads, stale = reads+r.Reads, stale+r.StaleReads
	}
	return reads, stale
}

// runsOf lists what of every run of e get gives, in order, for a note;
// "" for a result of one run.
func (e *expiryResult) runsOf(get func(runSummary) time.Duration) string {
	if len(e.Runs) == 0 {
		return ""
	}
	var parts []string
	for _, r := range e.Runs {
		if r.Error != "" {
			parts = append(parts, "failed")
			continue
		}
		parts = append(parts, fmtDur(get(r)))
	}
	return strings.Join(parts, ", ")
}

const (
	// minLead is the least time from the start of the insertion to the first
	// deadline; on a slow or busy machine the lead grows with the time a
	// trial insertion took, so that the insertion is over by the first
	// deadline.
	minLead = 4 * time.Second
	// idleGiveUp ends the wait once every deadline has passed and no
	// callback came for this long: some caches never report some expiries.
	idleGiveUp = 6 * time.Second
	// maxWait ends it, while callbacks still come, this long after the
	// last deadline, so that the child ends within the parent's timeout.
	maxWait = 30 * time.Second
	// minTTL is the shortest TTL given: livedict refuses a TTL under 1ms,
	// and go-cache, theine and ristretto take one of 0 or less for "no
	// expiry" or "the default", so a key whose deadline the insertion has
	// already reached must not be given the time left.
	minTTL = time.Millisecond
	// goCacheInterval is go-cache's janitor period: one second, a common
	// choice; the lateness it shows follows from it.
	goCacheInterval = time.Second
)

// Why the wait for callbacks ended (expiryResult.Ended).
const (
	endAll  = "all"  // every key was heard
	endIdle = "idle" // no callback for idleGiveUp after the last deadline
	endCap  = "cap"  // maxWait after the last deadline, callbacks still coming
)

// runExpiry sets n keys whose deadlines are spread over spread, starting lead
// after the start, and measures how late each cache reports them and what
// CPU the expiry costs, while readers look for values read after their
// deadline.
func runExpiry(name string, n int, spread time.Duration) (res expiryResult) {
	res = expiryResult{Cache: name, Keys: n, Spread: spread}
	spec, err := caches.Find(caches.All(caches.OpenGrant, false), name)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.PerEntryTTL = spec.PerEntryTTL
	if name == caches.GoCache {
		res.Interval = "janitor every " + goCacheInterval.String()
	}

	keys := make([]string, n)
	for i := range keys {
		keys[i] = "grant:" + strconv.Itoa(i)
	}
	// Deadlines are whole milliseconds (livedict keeps milliseconds), in a
	// random order of the keys, so that insertion order says nothing.
	slot := rand.New(rand.NewPCG(3, 4)).Perm(n)
	// Deadlines and lateness are judged on the monotonic clock, as
	// offsets from origin; the wall clock can step.
	origin := time.Now()
	var (
		done     = make([]atomic.Bool, n)
		lateness = make([]int64, n)
		// deadlineMono[i] is key i's deadline on the monotonic clock,
		// written before its Set, so before its callback can come.
		deadlineMono = make([]int64, n)
		fired        atomic.Int64
		dups         atomic.Int64
		lastFire     atomic.Int64
	)
	onExpire := func(_ string, v model.Grant) {
		now := time.Now()
		i := int(v.Scope)
		if i >= n || !done[i].CompareAndSwap(false, true) {
			dups.Add(1)
			return
		}
		lateness[i] = int64(now.Sub(origin)) - deadlineMono[i]
		fired.Add(1)
		lastFire.Store(now.UnixNano())
	}
	lead := leadFor(spec, keys)
	res.Lead = lead
	ttl := lead + spread/2 // the one TTL of a cache without per-entry TTLs
	c, err := spec.New(caches.Config[model.Grant]{
		Capacity:        n,
		TTL:             ttl,
		OnExpire:        onExpire,
		DeadlineOf:      func(g model.Grant) time.Time { return g.ExpiresAt },
		CleanupInterval: goCacheInterval,
	})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer c.Close()

	// gap[i] is how long Set of key i took: the cache read its clock at
	// some point within it, so its deadline may be that much after ours.
	gap := make([]int64, n)
	deadline := make([]int64, n)
	start := time.Now()
	base := start.Add(lead).Truncate(time.Millisecond)
	for i, k := range keys {
		before := time.Now()
		var d time.Time
		if spec.PerEntryTTL {
			d = base.Add(time.Duration(slot[i]) * spread / time.Duration(n))
			// On a slow or busy machine the insertion can outlast the
			// lead. Such a key gets its deadline moved to the earliest
			// whole millisecond at least minTTL ahead, and its lateness is
			// counted from there: what is measured stays the cache's.
			if soon := before.Add(minTTL); d.Before(soon) {
				moved := soon.Truncate(time.Millisecond).Add(time.Millisecond)
				res.SetLate++
				res.SetLateMax = max(res.SetLateMax, moved.Sub(d))
				d = moved
			}
		} else {
			d = before.Add(ttl)
		}
		deadlineMono[i] = int64(before.Sub(origin) + d.Sub(before))
		c.SetTTL(k, model.Grant{UserID: k, Scope: uint32(i), ExpiresAt: d}, d.Sub(before))
		after := time.Now()
		gap[i] = int64(after.Sub(before))
		deadline[i] = d.UnixNano()
	}
	c.Settle()
	res.InsertTime = time.Since(start)
	now := time.Now().UnixNano()
	for _, d := range deadline {
		if d <= now {
			res.Overran++
		}
	}

	// Readers walk the keys in deadline order around the present, where a
	// value read too late would show. The order is known without sorting:
	// by slot with per-entry TTLs, by insertion with one TTL for all.
	order := make([]int32, n)
	for i := range order {
		if spec.PerEntryTTL {
			order[slot[i]] = int32(i)
		} else {
			order[i] = int32(i)
		}
	}
	sorted := make([]int64, n)
	for j, i := range order {
		sorted[j] = deadline[i]
	}
	last := sorted[n-1]

	runtime.GC() // the insertion's garbage is not the expiry's cost
	cpu0 := rusage.Process()
	t0 := time.Now()
	stop := make(chan struct{})
	var (
		wg         sync.WaitGroup
		reads      atomic.Int64
		stale      atomic.Int64
		maxStale   atomic.Int64
		readersCPU atomic.Int64
		staleFirst atomic.Value
		confirmed  atomic.Int64
		wallStale  atomic.Int64
	)
	const readers = 2
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked to its thread, a reader can measure its own CPU, which
			// is then taken out of the expiry's.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tc0 := rusage.Thread()
			defer func() { readersCPU.Add(int64(rusage.Thread() - tc0)) }()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			var nr int64
			for {
				select {
				case <-stop:
					reads.Add(nr)
					return
				default:
				}
				p, _ := slices.BinarySearch(sorted, time.Now().UnixNano())
				for range 64 {
					j := min(max(p-2000+rng.IntN(2500), 0), n-1)
					i := order[j]
					t := time.Now()
					before, beforeMono := t.UnixNano(), int64(t.Sub(origin))
					v, ok := c.Get(keys[i])
					nr++
					if !ok {
						continue
					}
					if int(v.Scope) != int(i) {
						panic(fmt.Sprintf("%s returned key %d's value for key %d", name, v.Scope, i))
					}
					// Past the deadline by more than the Set took, plus the
					// millisecond livedict rounds deadlines up to.
					slack := gap[i] + int64(time.Millisecond)
					over := beforeMono - deadlineMono[i]
					if over <= slack && before-deadline[i] > slack {
						wallStale.Add(1)
					}
					if over > slack {
						// Read it again: a value a second read also returns
						// is kept past its deadline, not returned by a race.
						_, again := c.Get(keys[i])
						if again {
							confirmed.Add(1)
						}
						if stale.Add(1) == 1 {
							staleFirst.Store(fmt.Sprintf("key %d: read at %d, %s after its deadline %d; its Set took %s; a second read found it: %v",
								i, before, time.Duration(over), deadline[i], time.Duration(gap[i]), again))
						}
						for m := maxStale.Load(); over > m && !maxStale.CompareAndSwap(m, over); m = maxStale.Load() {
						}
					}
				}
				// Paced: the readers look, they do not load the machine.
				time.Sleep(500 * time.Microsecond)
			}
		}()
	}

	// The wait follows the callbacks: it ends when every key was heard,
	// or once every deadline has passed and none came for idleGiveUp, so
	// that a cache that is slow to catch up is reported late, not short;
	// maxWait bounds it only while callbacks keep coming.
	for {
		time.Sleep(10 * time.Millisecond)
		now := time.Now().UnixNano()
		if fired.Load() == int64(n) {
			res.Ended = endAll
			break
		}
		if now > last {
			if lf := max(lastFire.Load(), last); now-lf > int64(idleGiveUp) {
				res.Ended = endIdle
				break
			}
			if now-last > int64(maxWait) {
				res.Ended = endCap
				break
			}
		}
	}
	end := time.Now()
	if fired.Load() == int64(n) {
		end = time.Unix(0, lastFire.Load())
	}
	cpu1 := rusage.Process()
	close(stop)
	wg.Wait()

	// 0 when the last callback came before the insertion ended, as it
	// can when the insertion outlasted every deadline.
	res.Window = max(end.Sub(t0), 0)
	res.ReaderCPU = time.Duration(readersCPU.Load())
	res.CPU = cpu1 - cpu0 - res.ReaderCPU
	res.Reads = reads.Load()
	res.StaleReads = stale.Load()
	res.MaxStale = time.Duration(maxStale.Load())
	res.StaleAgain = confirmed.Load()
	res.WallStale = wallStale.Load()
	if v, ok := staleFirst.Load().(string); ok {
		res.StaleFirst = v
	}
	if d, ok := c.(interface{ ExpiredDropped() uint64 }); ok {
		res.Dropped = d.ExpiredDropped()
	}
	if f, ok := c.(interface{ FailedSets() (uint64, string) }); ok {
		res.FailedSets, res.FailedSet = f.FailedSets()
	}
	res.Duplicates = int(dups.Load())
	var late []int64
	for i := range done {
		if done[i].Load() {
			late = append(late, lateness[i])
			if lateness[i] < -int64(time.Millisecond) {
				res.Early++
			}
		}
	}
	res.Fired = len(late)
	if len(late) > 0 {
		slices.Sort(late)
		res.P50 = time.Duration(late[len(late)/2])
		res.P99 = time.Duration(late[len(late)*99/100])
		res.Max = time.Duration(late[len(late)-1])
	}
	return res
}

// leadFor times the insertion of a tenth of the keys into a throwaway cache
// of the same kind and returns a lead twice the time the whole insertion
// would take at that pace, and at least minLead.
func leadFor(spec caches.Spec[model.Grant], keys []string) time.Duration {
	trial := keys[:len(keys)/10]
	// No callback: closing some caches reports their entries as removed.
	c, err := spec.New(caches.Config[model.Grant]{Capacity: len(keys), TTL: time.Hour,
		DeadlineOf: func(g model.Grant) time.Time { return g.ExpiresAt }, CleanupInterval: goCacheInterval})
	if err != nil {
		return minLead
	}
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	for i, k := range trial {
		c.SetTTL(k, model.Grant{UserID: k, Scope: uint32(i), ExpiresAt: exp}, time.Hour)
	}
	c.Settle()
	took := time.Since(start)
	c.Close()
	runtime.GC()
	return max(minLead, 2*10*took).Round(time.Second)
}
