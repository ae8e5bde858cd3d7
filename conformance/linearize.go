package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/livedict/livedict"
)

// Linearizability: RecordHistory runs random Set, Get, Delete and Update
// operations on a few keys from several goroutines and records each with
// its call and return times; CheckHistory checks the history with
// porcupine against a register per key. The same functions serve every
// backend, and worker processes (a history is plain data, encodable as
// JSON, with wall-clock times so that the histories of several processes
// on one machine merge).
//
// An operation that failed with an error other than
// livedict.ErrOutcomeUnknown did not take effect, so it is left out. One
// that reported an unknown outcome may have taken effect at any moment
// after its call, or never: it is recorded with a return time of infinity
// (math.MaxInt64), and the model accepts any state for it, so porcupine may
// place it anywhere after its call, including after everything else.

// Kinds of HistoryOp.
const (
	OpGet    = "get"
	OpSet    = "set"
	OpDelete = "del"
	OpUpdate = "upd" // an increment: N+1, or N=1 for a missing key
)

// HistoryOp is one operation of a history.
type HistoryOp struct {
	Client int    `json:"c"`
	Kind   string `json:"k"`
	Key    string `json:"key"`
	Arg    int64  `json:"a,omitempty"` // Set: the value written
	Call   int64  `json:"t0"`          // Unix ns
	Return int64  `json:"t1"`          // Unix ns; math.MaxInt64 when Unknown
	// Found: Get found the key, Delete deleted it, Update found it.
	Found bool `json:"f,omitempty"`
	// Value: the value Get read, or Update incremented.
	Value   int64 `json:"v,omitempty"`
	Unknown bool  `json:"u,omitempty"` // the outcome is unknown
}

// HistoryConfig says what RecordHistory runs.
type HistoryConfig struct {
	Clients    int           // goroutines (4 when 0)
	Keys       int           // keys "h0".. (3 when 0)
	Duration   time.Duration // how long they run (1s when 0)
	FirstID    int           // client IDs start here (give processes disjoint ranges)
	Seed       uint64
	OpTimeout  time.Duration // of each operation (2s when 0)
	MaxOpsEach int           // per client, 0 for no limit
}

// RecordHistory runs cfg's clients on s and returns their operations.
func RecordHistory(ctx context.Context, s *Store, cfg HistoryConfig) []HistoryOp {
	if cfg.Clients <= 0 {
		cfg.Clients = 4
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 3
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	end := time.Now().Add(cfg.Duration)
	var mu sync.Mutex
	var all []HistoryOp
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.FirstID+c)))
			id := cfg.FirstID + c
			var mine []HistoryOp
			for seq := 1; time.Now().Before(end) && ctx.Err() == nil; seq++ {
				if cfg.MaxOpsEach > 0 && seq > cfg.MaxOpsEach {
					break
				}
				op, ok := runOne(ctx, s, r, cfg, id, seq)
				if ok {
					mine = append(mine, op)
				}
				if !ok {
					// The store failed it outright (say, the server is
					// down): do not spin.
					time.Sleep(5 * time.Millisecond)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// runOne runs one random operation; ok false leaves it out of the history
// (it failed without effect).
func runOne(ctx context.Context, s *Store, r *rand.Rand, cfg HistoryConfig, id, seq int) (HistoryOp, bool) {
	op := HistoryOp{Client: id, Key: "h" + strconv.Itoa(r.IntN(cfg.Keys))}
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	var err error
	op.Call = time.Now().UnixNano()
	switch x := r.IntN(10); {
	case x < 3:
		op.Kind = OpGet
		var v Item
		v, op.Found, err = s.Get(ctx, op.Key)
		op.Value = v.N
	case x < 5:
		op.Kind = OpSet
		// Unique values, far from the small numbers increments reach.
		op.Arg = int64(id+1)<<32 | int64(seq)
		err = s.Set(ctx, op.Key, Item{N: op.Arg})
	case x < 6:
		op.Kind = OpDelete
		op.Found, err = s.Delete(ctx, op.Key)
	default:
		op.Kind = OpUpdate
		err = s.Update(ctx, op.Key, func(cur Item, exists bool) (Item, bool, error) {
			// The last call is the one that took effect.
			op.Found, op.Value = exists, cur.N
			if !exists {
				cur = Item{}
			}
			cur.N++
			return cur, true, nil
		})
	}
	op.Return = time.Now().UnixNano()
	switch {
	case err == nil:
		return op, true
	case errors.Is(err, livedict.ErrOutcomeUnknown) && op.Kind != OpGet:
		op.Unknown, op.Return = true, math.MaxInt64
		op.Found, op.Value = false, 0
		return op, true
	}
	return op, false
}

type histInput struct {
	kind, key string
	arg       int64
}

type histOutput struct {
	found, unknown bool
	value          int64
}

// registerModel is a register per key: the state is the key's N, or 0 when
// the key is missing (Set writes values above 2^32, increments start at 1).
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		var keys []string
		for _, op := range h {
			k := op.Input.(histInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(int64), input.(histInput), output.(histOutput)
		switch in.kind {
		case OpGet:
			return out.found == (st != 0) && (!out.found || out.value == st), st
		case OpSet:
			return true, in.arg
		case OpDelete:
			return out.unknown || out.found == (st != 0), int64(0)
		case OpUpdate:
			if !out.unknown && (out.found != (st != 0) || (out.found && out.value != st)) {
				return false, st
			}
			return true, st + 1
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(histInput), output.(histOutput)
		if out.unknown {
			return fmt.Sprintf("%s(%s, %d) -> unknown", in.kind, in.key, in.arg)
		}
		return fmt.Sprintf("%s(%s, %d) -> found %v, %d", in.kind, in.key, in.arg, out.found, out.value)
	},
}

// HistoryStats counts a history's operations.
type HistoryStats struct {
	Ops, Unknown int
	ByKind       map[string]int
}

func (s HistoryStats) String() string {
	return fmt.Sprintf("%d operations (%d get, %d set, %d delete, %d update; %d with unknown outcome)",
		s.Ops, s.ByKind[OpGet], s.ByKind[OpSet], s.ByKind[OpDelete], s.ByKind[OpUpdate], s.Unknown)
}

// CheckHistory fails t unless porcupine finds the history linearizable
// within timeout (a check that runs out of time is logged, not failed). It
// returns the history's counts.
func CheckHistory(t testing.TB, h []HistoryOp, timeout time.Duration) HistoryStats {
	t.Helper()
	st := HistoryStats{Ops: len(h), ByKind: make(map[string]int)}
	ops := make([]porcupine.Operation, len(h))
	for i, op := range h {
		st.ByKind[op.Kind]++
		if op.Unknown {
			st.Unknown++
		}
		ops[i] = porcupine.Operation{
			ClientId: op.Client,
			Input:    histInput{op.Kind, op.Key, op.Arg},
			Call:     op.Call,
			Output:   histOutput{op.Found, op.Unknown, op.Value},
			Return:   op.Return,
		}
	}
	switch res := porcupine.CheckOperationsTimeout(registerModel, ops, timeout); res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Logf("linearizability check of %v ran out of its %v", st, timeout)
	default:
		t.Errorf("the history is not linearizable: %v (porcupine.CheckOperationsVerbose and Visualize show where)", st)
	}
	return st
}

// Long reports whether LIVEDICT_LONG=1 asks for the long form of the
// linearizability tests.
func Long() bool { return os.Getenv("LIVEDICT_LONG") == "1" }
