package conformance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/impl"
)

// The environment of RunModel.
const (
	// ModelSeedEnv fixes the seed of the first sequence (the others take
	// the next seeds), so that a failure can be run again.
	ModelSeedEnv = "LIVEDICT_MODEL_SEED"
	// ModelRunsEnv sets how many sequences RunModel runs.
	ModelRunsEnv = "LIVEDICT_MODEL_RUNS"
)

const (
	// defaultModelRuns sequences of 40 to 80 operations take a few seconds
	// on every backend, which keeps the model in the ordinary test run.
	defaultModelRuns = 30
	// modelKeys is small so that operations meet on the same keys: a
	// random sequence over many keys would rarely overwrite, delete or
	// lock a key that another operation just touched.
	modelKeys = 6
	// shrinkAttempts and shrinkBudget bound the search for a shorter
	// failing sequence; what has been found by then is reported.
	shrinkAttempts = 200
	shrinkBudget   = 2 * time.Minute
	// lockRefused is the ctx timeout of a Lock of a key the model says is
	// held. The fake clock does not move while Lock waits, so the lease
	// cannot end and Lock must give up when the ctx does: the timeout only
	// decides how long the test waits for that, not what it expects.
	lockRefused = 2 * time.Millisecond
)

// RunModel checks the backend h describes against a reference model: it
// runs random sequences of store operations (Set with every TTL option,
// Get, Has, TTL, Delete, Update, Len, Keys, Range, Clear, locks, and moves
// of a fake clock) on a store with inline OnSet and OnDelete hooks and an
// OnExpire hook, and compares every result and hook event with what a
// plain map with deadlines and a lock table say it must be, to the
// millisecond of the fake clock. A sequence that disagrees is shrunk, each
// attempt on a fresh backend, and the shortest failing sequence found is
// reported with its seed.
//
// Each sequence runs in a subtest named after its seed. LIVEDICT_MODEL_SEED
// fixes the first seed and LIVEDICT_MODEL_RUNS the number of sequences
// (default 30); without a seed the sequences are new every run.
func RunModel(t *testing.T, h Harness) {
	t.Helper()
	if h.Name == "" {
		t.Fatal("conformance: Harness.Name is empty")
	}
	base, err := envUint(ModelSeedEnv, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := envUint(ModelRunsEnv, defaultModelRuns)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model of backend %s: %d sequences, seeds %d to %d", h.Name, runs, base, base+runs-1)
	for i := range runs {
		seed := base + i
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			p := generate(seed)
			f := p.execute(t, h, p.ops)
			if f == nil {
				return
			}
			t.Fatal(p.shrink(t, h, f))
		})
	}
}

func envUint(name string, def uint64) (uint64, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v", name, s, err)
	}
	return n, nil
}

// A program is a generated sequence with the store configuration it runs
// on. Shrinking removes operations and keeps the configuration.
type program struct {
	seed         uint64
	defaultTTL   time.Duration // 0: the store has no default TTL
	defaultIdle  bool          // defaultTTL is an idle time (WithDefaultIdle)
	inlineExpire bool          // the OnExpire hook runs inline (on the scheduler)
	ops          []op
}

type opKind int

const (
	opSet opKind = iota
	opGet
	opHas
	opTTL
	opDelete
	opUpdate
	opLen
	opKeys
	opRange
	opClear
	opAdvance
	opTryLock
	opLock
	opUnlock
	opExtend
	opGetOrLoad
	opTouch
	opExpire
)

// ttlOption is the SetOption of a Set or Update.
type ttlOption int

const (
	withDefault  ttlOption = iota // no option
	withTTL                       // TTL(d); d <= 0 is ErrInvalidTTL
	withNoExpiry                  // NoExpiry()
	withKeepTTL                   // KeepTTL()
	withIdle                      // Idle(d); d < 1ms is ErrInvalidTTL
)

// updateFn is what the function given to Update does.
type updateFn int

const (
	updKeep   updateFn = iota // returns a new value, keep
	updDelete                 // returns keep false
	updFail                   // returns errModelUpdate
)

var errModelUpdate = errors.New("the update function failed on purpose")

// op is one step of a sequence. Values and lock handles are named by the id
// of the operation that made them, so that a sequence with operations
// removed still reads the same: v(7) is the value operation 7 writes, l7
// the lock it took.
type op struct {
	id   int
	kind opKind
	key  string
	ttl  ttlOption
	upd  updateFn
	// d is the TTL (withTTL), the clock step (Advance), the lease (TryLock,
	// Lock; 0: the default lease) or the new lease (Extend).
	d    time.Duration
	lock int // Unlock, Extend: the id of the TryLock or Lock
}

// value is the value operation id writes; each is different, so events
// name the write they come from.
func value(id int) Item { return item("v"+strconv.Itoa(id), int64(id)) }

func (o op) setOptions() []livedict.SetOption {
	switch o.ttl {
	case withTTL:
		return []livedict.SetOption{livedict.TTL(o.d)}
	case withNoExpiry:
		return []livedict.SetOption{livedict.NoExpiry()}
	case withKeepTTL:
		return []livedict.SetOption{livedict.KeepTTL()}
	case withIdle:
		return []livedict.SetOption{livedict.Idle(o.d)}
	}
	return nil
}

func (o op) lockOptions() []livedict.LockOption {
	if o.d == 0 {
		return nil
	}
	return []livedict.LockOption{livedict.Lease(o.d)}
}

func (o op) lease() time.Duration { return cmp.Or(o.d, impl.DefaultLease) }

// String writes o as the Go statement it runs.
func (o op) String() string {
	var opt string
	switch o.ttl {
	case withTTL:
		opt = fmt.Sprintf(", TTL(%v)", o.d)
	case withNoExpiry:
		opt = ", NoExpiry()"
	case withKeepTTL:
		opt = ", KeepTTL()"
	case withIdle:
		opt = fmt.Sprintf(", Idle(%v)", o.d)
	}
	var lease string
	if o.d > 0 {
		lease = fmt.Sprintf(", Lease(%v)", o.d)
	}
	switch o.kind {
	case opSet:
		return fmt.Sprintf("s.Set(ctx, %q, v(%d)%s)", o.key, o.id, opt)
	case opGet:
		return fmt.Sprintf("s.Get(ctx, %q)", o.key)
	case opHas:
		return fmt.Sprintf("s.Has(ctx, %q)", o.key)
	case opTTL:
		return fmt.Sprintf("s.TTL(ctx, %q)", o.key)
	case opDelete:
		return fmt.Sprintf("s.Delete(ctx, %q)", o.key)
	case opUpdate:
		fn := "return cur, false, nil"
		switch o.upd {
		case updKeep:
			fn = fmt.Sprintf("return v(%d), true, nil", o.id)
		case updFail:
			fn = "return cur, false, errFailed"
		}
		return fmt.Sprintf("s.Update(ctx, %q, func(cur Item, ok bool) (Item, bool, error) { %s }%s)", o.key, fn, opt)
	case opLen:
		return "s.Len(ctx)"
	case opKeys:
		return "s.Keys(ctx)"
	case opRange:
		return "s.Range(ctx, collect)"
	case opClear:
		return "s.Clear(ctx)"
	case opAdvance:
		return fmt.Sprintf("clk.Advance(%v)", o.d)
	case opTryLock:
		return fmt.Sprintf("l%d, ok, err := s.TryLock(ctx, %q%s)", o.id, o.key, lease)
	case opLock:
		return fmt.Sprintf("l%d, err := s.Lock(ctx, %q%s)", o.id, o.key, lease)
	case opUnlock:
		return fmt.Sprintf("l%d.Unlock(ctx)", o.lock)
	case opExtend:
		return fmt.Sprintf("l%d.Extend(ctx, %v)", o.lock, o.d)
	case opGetOrLoad:
		fn := fmt.Sprintf("return v(%d), nil", o.id)
		if o.upd == updFail {
			fn = "return Item{}, errFailed"
		}
		return fmt.Sprintf("s.GetOrLoad(ctx, %q, func(ctx context.Context, key string) (Item, error) { %s }%s)", o.key, fn, opt)
	case opTouch:
		return fmt.Sprintf("s.Touch(ctx, %q)", o.key)
	case opExpire:
		return fmt.Sprintf("s.Expire(ctx, %q%s)", o.key, opt)
	}
	return fmt.Sprintf("op(%d)", o.kind)
}

// model is the reference: what the README's rules say a store holds,
// written as plainly as possible. Time is the fake clock's; deadlines and
// lease ends are Unix milliseconds, as the backends keep them.
type model struct {
	defaultTTL  time.Duration
	defaultIdle bool
	now         time.Time
	// data holds the live values only: advance moves a value whose
	// deadline has come to expired, which is then exactly the list of
	// OnExpire events the store owes.
	data    map[string]modelEntry
	expired []event
	locks   map[string]modelLease
	taken   map[int]string // lock id -> key, for every acquisition
}

type modelEntry struct {
	val      Item
	deadline int64 // 0: no expiry
	idle     int64 // ms; > 0: sliding
}

type modelLease struct {
	holder int   // lock id
	until  int64 // held while now < until
}

func newModel(defaultTTL time.Duration, defaultIdle bool) *model {
	return &model{
		defaultTTL:  defaultTTL,
		defaultIdle: defaultIdle,
		now:         epoch,
		data:        map[string]modelEntry{},
		locks:       map[string]modelLease{},
		taken:       map[int]string{},
	}
}

func (m *model) nowMs() int64 { return m.now.UnixMilli() }

// advance moves the clock; a value is gone from its deadline on (a read at
// the deadline does not return it).
func (m *model) advance(d time.Duration) {
	m.now = m.now.Add(d)
	for k, e := range m.data {
		if e.deadline != 0 && e.deadline <= m.nowMs() {
			m.expired = append(m.expired, event{"expire", k, e.val})
			delete(m.data, k)
		}
	}
}

// ceilMs is the first millisecond at or after t: a value is never readable
// for less than its TTL.
func ceilMs(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// expiry is the deadline and idle time a write of key with opt gets.
func (m *model) expiry(key string, opt ttlOption, ttl time.Duration) (deadline, idle int64, err error) {
	switch opt {
	case withTTL, withIdle:
		if ttl < time.Millisecond {
			return 0, 0, backend.ErrInvalidTTL // deadlines are whole milliseconds
		}
		if opt == withIdle {
			idle = int64((ttl + time.Millisecond - 1) / time.Millisecond)
		}
		return ceilMs(m.now.Add(ttl)), idle, nil
	case withNoExpiry:
		return 0, 0, nil
	case withKeepTTL:
		if e, ok := m.data[key]; ok {
			return e.deadline, e.idle, nil
		}
	}
	if m.defaultTTL > 0 {
		if m.defaultIdle {
			idle = m.defaultTTL.Milliseconds()
		}
		return ceilMs(m.now.Add(m.defaultTTL)), idle, nil
	}
	return 0, 0, nil
}

// put writes v under key and returns the inline events it raises.
func (m *model) put(key string, v Item, opt ttlOption, ttl time.Duration) ([]event, error) {
	d, idle, err := m.expiry(key, opt, ttl)
	if err != nil {
		return nil, err
	}
	m.data[key] = modelEntry{cloneItem(v), d, idle}
	return []event{{"set", key, cloneItem(v)}}, nil
}

// read is a read that finds key (Get, GetOrLoad): it pushes a sliding
// key's deadline to now+idle, once that moves it by a tenth of idle or
// more.
func (m *model) read(key string) (Item, bool) {
	e, ok := m.data[key]
	if ok && e.idle > 0 && m.nowMs()+e.idle-e.deadline >= max(1, e.idle/10) {
		e.deadline = m.nowMs() + e.idle
		m.data[key] = e
	}
	return e.val, ok
}

// touch is Touch: a sliding key's deadline goes to now+idle when that is
// later.
func (m *model) touch(key string) bool {
	e, ok := m.data[key]
	if ok && e.idle > 0 && m.nowMs()+e.idle > e.deadline {
		e.deadline = m.nowMs() + e.idle
		m.data[key] = e
	}
	return ok
}

// expire is Expire: a new deadline and idle time for a live key.
func (m *model) expire(o op) (bool, error) {
	if o.ttl == withKeepTTL {
		return false, backend.ErrInvalidOption
	}
	d, idle, err := m.expiry(o.key, o.ttl, o.d)
	if err != nil {
		return false, err
	}
	e, ok := m.data[o.key]
	if ok {
		e.deadline, e.idle = d, idle
		m.data[o.key] = e
	}
	return ok, nil
}

func (m *model) get(key string) (Item, bool) {
	e, ok := m.data[key]
	return e.val, ok
}

// ttl is what TTL returns: the time left to the deadline, rounded down to
// whole milliseconds and at least 1ms (so never more than the TTL set); 0
// and true for a value that never expires.
func (m *model) ttl(key string) (time.Duration, bool) {
	e, ok := m.data[key]
	if !ok || e.deadline == 0 {
		return 0, ok
	}
	return max(time.UnixMilli(e.deadline).Sub(m.now).Truncate(time.Millisecond), time.Millisecond), true
}

func (m *model) del(key string) ([]event, bool) {
	e, ok := m.data[key]
	if !ok {
		return nil, false
	}
	delete(m.data, key)
	return []event{{"delete", key, e.val}}, true
}

func (m *model) update(key string, fn updateFn, next Item, opt ttlOption, ttl time.Duration) ([]event, error) {
	switch fn {
	case updFail:
		return nil, errModelUpdate
	case updDelete:
		evs, _ := m.del(key)
		return evs, nil
	}
	return m.put(key, next, opt, ttl)
}

// getOrLoad is GetOrLoad: the live value, or on a miss the loaded one
// (v(id), or errModelUpdate for a failing loader), stored as a Set would
// store it. loaded says the loader ran.
func (m *model) getOrLoad(o op) (v Item, loaded bool, evs []event, err error) {
	if v, ok := m.read(o.key); ok {
		return v, false, nil, nil
	}
	if o.upd == updFail {
		return Item{}, true, nil, errModelUpdate
	}
	evs, err = m.put(o.key, value(o.id), o.ttl, o.d)
	return value(o.id), true, evs, err
}

func (m *model) keys() []string { return slices.Sorted(maps.Keys(m.data)) }

// clear drops every live value; Clear raises no OnDelete, and values that
// already expired are in expired already (the runner waits for their
// events before a Clear, which would drop them).
func (m *model) clear() { clear(m.data) }

func (m *model) held(key string) bool {
	l, ok := m.locks[key]
	return ok && l.until > m.nowMs()
}

func (m *model) heldKeys() []string {
	var keys []string
	for k := range m.locks {
		if m.held(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// acquire takes key for lock id unless it is held; a lease that ended
// counts as free.
func (m *model) acquire(id int, key string, lease time.Duration) bool {
	if m.held(key) {
		return false
	}
	m.locks[key] = modelLease{holder: id, until: ceilMs(m.now.Add(lease))}
	m.taken[id] = key
	return true
}

// unlock is Unlock of lock id: ErrLockLost unless it still holds a live
// lease. Its entry goes either way (the lock table frees entries on
// unlock); another holder's entry stays. known is false for an id that
// took no lock.
func (m *model) unlock(id int) (known bool, err error) {
	key, known := m.taken[id]
	if !known {
		return false, nil
	}
	l, ok := m.locks[key]
	if !ok || l.holder != id {
		return true, backend.ErrLockLost
	}
	delete(m.locks, key)
	if l.until <= m.nowMs() {
		return true, backend.ErrLockLost
	}
	return true, nil
}

// extend is Extend of lock id by d: only a live lease can be extended.
func (m *model) extend(id int, d time.Duration) (known bool, err error) {
	key, known := m.taken[id]
	if !known {
		return false, nil
	}
	l, ok := m.locks[key]
	if !ok || l.holder != id || l.until <= m.nowMs() {
		return true, backend.ErrLockLost
	}
	l.until = ceilMs(m.now.Add(d))
	m.locks[key] = l
	return true, nil
}

// targets are the instants (Unix ms, after now) where something happens:
// deadlines and lease ends. The generator moves the clock to them, and
// around them, more often than by chance.
func (m *model) targets() []int64 {
	var ts []int64
	for _, e := range m.data {
		if e.deadline != 0 {
			ts = append(ts, e.deadline)
		}
	}
	for _, l := range m.locks {
		if l.until > m.nowMs() {
			ts = append(ts, l.until)
		}
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// apply runs o on the model alone, for the generator, which needs the state
// to pick operations that matter (a lock that is held, a deadline ahead).
func (m *model) apply(o op) {
	switch o.kind {
	case opSet:
		m.put(o.key, value(o.id), o.ttl, o.d)
	case opDelete:
		m.del(o.key)
	case opUpdate:
		m.update(o.key, o.upd, value(o.id), o.ttl, o.d)
	case opGetOrLoad:
		m.getOrLoad(o)
	case opGet:
		m.read(o.key)
	case opTouch:
		m.touch(o.key)
	case opExpire:
		m.expire(o)
	case opClear:
		m.clear()
	case opAdvance:
		m.advance(o.d)
	case opTryLock, opLock:
		m.acquire(o.id, o.key, o.lease())
	case opUnlock:
		m.unlock(o.lock)
	case opExtend:
		m.extend(o.lock, o.d)
	}
}

// generate makes the program of seed: 40 to 80 operations, each chosen
// with the model's state at hand.
func generate(seed uint64) *program {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := &program{seed: seed}
	if rng.IntN(3) == 0 {
		p.defaultTTL = 30 * time.Millisecond
		p.defaultIdle = rng.IntN(2) == 0
	}
	p.inlineExpire = rng.IntN(4) == 0
	m := newModel(p.defaultTTL, p.defaultIdle)
	n := 40 + rng.IntN(41)
	for id := 1; id <= n; id++ {
		o := genOp(rng, m, id)
		m.apply(o)
		p.ops = append(p.ops, o)
	}
	return p
}

// TTLs of the generator: a TTL that is not a whole number of milliseconds
// ends at the next millisecond, one under a millisecond is ErrInvalidTTL;
// an hour outlives any sequence.
var modelTTLs = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 40 * time.Millisecond, 999 * time.Microsecond, 1500 * time.Microsecond, time.Hour,
}

// Leases of the generator; 0 is the default lease (30s).
var modelLeases = []time.Duration{0, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond}

func genOp(rng *rand.Rand, m *model, id int) op {
	o := op{id: id, key: "k" + strconv.Itoa(rng.IntN(modelKeys))}
	switch w := rng.IntN(106); {
	case w < 20:
		o.kind = opSet
		o.ttl, o.d = genTTL(rng)
	case w < 25:
		o.kind = opGet
	case w < 29:
		o.kind = opGetOrLoad
		o.upd = []updateFn{updKeep, updKeep, updKeep, updFail}[rng.IntN(4)]
		o.ttl, o.d = genTTL(rng)
	case w < 33:
		o.kind = opHas
	case w < 40:
		o.kind = opTTL
	case w < 47:
		o.kind = opDelete
	case w < 55:
		o.kind = opUpdate
		o.upd = []updateFn{updKeep, updKeep, updDelete, updFail}[rng.IntN(4)]
		o.ttl, o.d = genTTL(rng)
	case w < 58:
		o.kind = opLen
	case w < 61:
		o.kind = opKeys
	case w < 63:
		o.kind = opRange
	case w < 64:
		o.kind = opClear
	case w < 79:
		o.kind = opAdvance
		o.d = genStep(rng, m)
	case w < 88:
		o.kind = opTryLock
		if w >= 85 {
			o.kind = opLock
		}
		o.d = modelLeases[rng.IntN(len(modelLeases))]
		// Leases are short, so a random key is mostly free: aim at a held
		// one now and then.
		if held := m.heldKeys(); len(held) > 0 && rng.IntN(3) == 0 {
			o.key = held[rng.IntN(len(held))]
		}
	case w >= 103:
		o.kind = opTouch
	case w >= 100:
		o.kind = opExpire
		o.ttl, o.d = genTTL(rng)
	default:
		ids := slices.Sorted(maps.Keys(m.taken))
		if len(ids) == 0 {
			o.kind = opTryLock
			o.d = modelLeases[rng.IntN(len(modelLeases))]
			break
		}
		// Mostly a lock that still holds its key, else any lock taken so
		// far: released, lost to its lease, or taken over by another.
		var holding []int
		for _, l := range m.locks {
			holding = append(holding, l.holder)
		}
		slices.Sort(holding)
		o.lock = ids[rng.IntN(len(ids))]
		if len(holding) > 0 && rng.IntN(4) > 0 {
			o.lock = holding[rng.IntN(len(holding))]
		}
		o.kind = opUnlock
		if w >= 96 {
			o.kind = opExtend
			o.d = modelLeases[1+rng.IntN(len(modelLeases)-1)]
		}
	}
	return o
}

func genTTL(rng *rand.Rand) (ttlOption, time.Duration) {
	switch r := rng.IntN(24); {
	case r < 5:
		return withDefault, 0
	case r < 12:
		return withTTL, modelTTLs[rng.IntN(len(modelTTLs))]
	case r < 15:
		return withNoExpiry, 0
	case r < 19:
		return withKeepTTL, 0
	case r < 23:
		return withIdle, modelTTLs[rng.IntN(len(modelTTLs))]
	default:
		return withTTL, []time.Duration{0, -time.Millisecond}[rng.IntN(2)]
	}
}

// genStep is a clock step: often exactly to a deadline or a lease end, or a
// millisecond either side of it; sometimes off a millisecond boundary, so
// that deadlines are also read from between two milliseconds.
func genStep(rng *rand.Rand, m *model) time.Duration {
	ts := m.targets()
	switch r := rng.IntN(10); {
	case r < 4 && len(ts) > 0:
		d := time.UnixMilli(ts[rng.IntN(len(ts))]).Sub(m.now)
		switch rng.IntN(4) {
		case 0:
			d -= time.Millisecond
		case 1:
			d += time.Millisecond
		}
		return max(d, 0)
	case r < 5:
		return time.Duration(rng.IntN(3))*time.Millisecond + 500*time.Microsecond
	default:
		return time.Duration(rng.IntN(25)) * time.Millisecond
	}
}

// failure is where a run disagreed with the model.
type failure struct {
	at   int    // index of the failing op; len(ops) for the end of the sequence
	kind string // what disagreed; shrinking keeps failures of the same kind
	msg  string
}

func failf(kind, format string, args ...any) *failure {
	return &failure{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// eventLog records hook calls. Values are cloned as they come: a hook's
// value may share memory with what the caller goes on to change.
type eventLog struct {
	mu  sync.Mutex
	evs []event
}

func (l *eventLog) hook(kind string) func(context.Context, string, Item) {
	return func(_ context.Context, key string, v Item) {
		l.mu.Lock()
		l.evs = append(l.evs, event{kind, key, cloneItem(v)})
		l.mu.Unlock()
	}
}

// take returns the events recorded since the last take.
func (l *eventLog) take() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.evs
	l.evs = nil
	return evs
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.evs)
}

// runner runs ops on a store and on the model side by side.
type runner struct {
	s      *Store
	clk    *clock.Fake
	m      *model
	locks  map[int]*livedict.Lock
	tokens map[string]uint64 // the last fencing token of each key
	inline eventLog          // OnSet and OnDelete, both Inline
	expire eventLog
	closed bool
}

// execute runs ops on a fresh store, on a fresh backend from h.Open(t),
// and returns the first disagreement with the model, or nil. It fails t
// only when the harness cannot open a backend; disagreements are the
// caller's to report, so that shrinking can run attempts as subtests that
// pass.
func (p *program) execute(t *testing.T, h Harness, ops []op) *failure {
	var be backend.Backend
	if h.Open != nil {
		be = h.Open(t)
	}
	w := &testLogWriter{t: t}
	defer w.stop()
	clk := clock.NewFake(epoch)
	opts := []livedict.Option{
		livedict.WithClock(clk),
		livedict.WithLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
	if be != nil {
		opts = append(opts, livedict.WithBackend(be))
	}
	if p.defaultTTL > 0 && p.defaultIdle {
		opts = append(opts, livedict.WithDefaultIdle(p.defaultTTL))
	} else if p.defaultTTL > 0 {
		opts = append(opts, livedict.WithDefaultTTL(p.defaultTTL))
	}
	s, err := engine.New(ItemCodec(), opts...)
	if err != nil {
		return &failure{at: -1, kind: "New", msg: err.Error()}
	}
	r := &runner{s: s, clk: clk, m: newModel(p.defaultTTL, p.defaultIdle), locks: map[int]*livedict.Lock{}, tokens: map[string]uint64{}}
	defer func() {
		if !r.closed {
			// A disagreement is being reported; a failing Close would
			// only hide it.
			_ = closeWithin(s)
		}
	}()
	s.OnSet(r.inline.hook("set"), livedict.Inline())
	s.OnDelete(r.inline.hook("delete"), livedict.Inline())
	var expireOpts []livedict.HookOption
	if p.inlineExpire {
		expireOpts = append(expireOpts, livedict.Inline())
	}
	s.OnExpire(r.expire.hook("expire"), expireOpts...)
	for i, o := range ops {
		if f := r.step(o); f != nil {
			f.at = i
			return f
		}
	}
	if f := r.finish(); f != nil {
		f.at = len(ops)
		return f
	}
	return nil
}

// closeWithin closes s, or gives up after the guard (a deadlock).
func closeWithin(s *Store) error {
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("the store's Close has not returned after %v (deadlock?)", guard)
	}
}

// show writes a value as the v(n) it is, when it is one.
func show(v Item, ok bool) string {
	switch {
	case !ok:
		return "no value"
	case gocmp.Equal(v, value(int(v.N))):
		return fmt.Sprintf("v(%d)", v.N)
	}
	return fmt.Sprintf("%+v", v)
}

func showEvents(evs []event) string {
	if len(evs) == 0 {
		return "none"
	}
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%s(%q, %s)", e.Kind, e.Key, show(e.Val, true)))
	}
	return strings.Join(parts, ", ")
}

// wantErr compares an operation's error with the model's: nil, or a
// sentinel that must match with errors.Is.
func wantErr(what string, got, want error) *failure {
	switch {
	case want == nil && got != nil:
		return failf(what, "%s: error %v, want none", what, got)
	case want != nil && !errors.Is(got, want):
		return failf(what, "%s: error %v, want %v", what, got, want)
	}
	return nil
}

// events checks the inline events op raised.
func (r *runner) events(what string, want []event) *failure {
	got := r.inline.take()
	if len(got) != len(want) || len(got) > 0 && !gocmp.Equal(got, want) {
		return failf(what+" events", "%s: OnSet/OnDelete events %s, want %s", what, showEvents(got), showEvents(want))
	}
	return nil
}

func (r *runner) step(o op) *failure {
	m, s := r.m, r.s
	switch o.kind {
	case opSet:
		v := value(o.id)
		err := s.Set(bg, o.key, v, o.setOptions()...)
		mutate(v) // the store must have taken a copy
		want, wantE := m.put(o.key, value(o.id), o.ttl, o.d)
		if f := wantErr("Set", err, wantE); f != nil {
			return f
		}
		return r.events("Set", want)

	case opGet:
		got, ok, err := s.Get(bg, o.key)
		if err != nil {
			return failf("Get", "Get: %v", err)
		}
		want, wantOK := m.read(o.key)
		if ok != wantOK || ok && !gocmp.Equal(got, want) {
			return failf("Get", "Get = %s, want %s", show(got, ok), show(want, wantOK))
		}
		if ok {
			mutate(got) // and returned a copy
		}

	case opHas:
		ok, err := s.Has(bg, o.key)
		if err != nil {
			return failf("Has", "Has: %v", err)
		}
		if _, want := m.get(o.key); ok != want {
			return failf("Has", "Has = %v, want %v", ok, want)
		}

	case opTTL:
		d, ok, err := s.TTL(bg, o.key)
		if err != nil {
			return failf("TTL", "TTL: %v", err)
		}
		if wd, wok := m.ttl(o.key); d != wd || ok != wok {
			return failf("TTL", "TTL = %v, %v; want %v, %v", d, ok, wd, wok)
		}

	case opDelete:
		ok, err := s.Delete(bg, o.key)
		if err != nil {
			return failf("Delete", "Delete: %v", err)
		}
		want, wantOK := m.del(o.key)
		if ok != wantOK {
			return failf("Delete", "Delete = %v, want %v", ok, wantOK)
		}
		return r.events("Delete", want)

	case opUpdate:
		cur, exists := m.get(o.key)
		calls := 0
		var seen *failure
		err := s.Update(bg, o.key, func(got Item, ok bool) (Item, bool, error) {
			calls++
			if seen == nil && (ok != exists || ok && !gocmp.Equal(got, cur)) {
				seen = failf("Update", "Update's function got %s, want %s", show(got, ok), show(cur, exists))
			}
			switch o.upd {
			case updKeep:
				mutate(got) // the function's value is its own
				return value(o.id), true, nil
			case updFail:
				mutate(got)
				return got, false, errModelUpdate
			}
			return got, false, nil
		}, o.setOptions()...)
		if seen != nil {
			return seen
		}
		// With no other writer there is no conflict to retry.
		if calls != 1 {
			return failf("Update", "Update called its function %d times, want once (error %v)", calls, err)
		}
		want, wantE := m.update(o.key, o.upd, value(o.id), o.ttl, o.d)
		if f := wantErr("Update", err, wantE); f != nil {
			return f
		}
		return r.events("Update", want)

	case opGetOrLoad:
		calls := 0
		got, err := s.GetOrLoad(bg, o.key, func(context.Context, string) (Item, error) {
			calls++
			if o.upd == updFail {
				return Item{}, errModelUpdate
			}
			return value(o.id), nil
		}, o.setOptions()...)
		want, loaded, evs, wantE := m.getOrLoad(o)
		if f := wantErr("GetOrLoad", err, wantE); f != nil {
			return f
		}
		if (calls == 1) != loaded || calls > 1 {
			return failf("GetOrLoad", "GetOrLoad called its loader %d times; want it called %v", calls, loaded)
		}
		if wantE == nil && !gocmp.Equal(got, want) {
			return failf("GetOrLoad", "GetOrLoad = %s, want %s", show(got, true), show(want, true))
		}
		return r.events("GetOrLoad", evs)

	case opTouch:
		ok, err := s.Touch(bg, o.key)
		if err != nil {
			return failf("Touch", "Touch: %v", err)
		}
		if want := m.touch(o.key); ok != want {
			return failf("Touch", "Touch = %v, want %v", ok, want)
		}

	case opExpire:
		ok, err := s.Expire(bg, o.key, o.setOptions()...)
		want, wantE := m.expire(o)
		if f := wantErr("Expire", err, wantE); f != nil {
			return f
		}
		if ok != want {
			return failf("Expire", "Expire = %v, want %v", ok, want)
		}

	case opLen:
		n, err := s.Len(bg)
		if err != nil {
			return failf("Len", "Len: %v", err)
		}
		if want := len(m.data); n != want {
			return failf("Len", "Len = %d, want %d (live keys %v)", n, want, m.keys())
		}

	case opKeys:
		ks, err := s.Keys(bg)
		if err != nil {
			return failf("Keys", "Keys: %v", err)
		}
		slices.Sort(ks)
		if want := m.keys(); !slices.Equal(ks, want) {
			return failf("Keys", "Keys = %q, want %q", ks, want)
		}

	case opRange:
		got := map[string]Item{}
		var twice []string
		err := s.Range(bg, func(k string, v Item) bool {
			if _, dup := got[k]; dup {
				twice = append(twice, k)
			}
			got[k] = v
			return true
		})
		if err != nil {
			return failf("Range", "Range: %v", err)
		}
		if twice != nil {
			return failf("Range", "Range visited %q more than once", twice)
		}
		want := map[string]Item{}
		for k, e := range m.data {
			want[k] = e.val
		}
		if d := gocmp.Diff(want, got); d != "" {
			return failf("Range", "Range visited (-want +got):\n%s", d)
		}

	case opClear:
		// Clear drops the expiries not delivered yet: the model owes only
		// those delivered before it, so it waits for them (the store's
		// OnExpire hook listens from the start).
		deadline := time.Now().Add(guard)
		for r.expire.len() < len(m.expired) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := s.Clear(bg); err != nil {
			return failf("Clear", "Clear: %v", err)
		}
		m.clear()
		return r.events("Clear", nil)

	case opAdvance:
		r.clk.Advance(o.d)
		m.advance(o.d)

	case opTryLock:
		l, ok, err := s.TryLock(bg, o.key, o.lockOptions()...)
		if err != nil {
			return failf("TryLock", "TryLock: %v", err)
		}
		if want := !m.held(o.key); ok != want || ok != (l != nil) {
			return failf("TryLock", "TryLock = %v, %v; want acquired %v (%s)", l != nil, ok, want, r.lockState(o.key))
		}
		if ok {
			return r.took(o, l)
		}

	case opLock:
		if m.held(o.key) {
			ctx, cancel := context.WithTimeout(bg, lockRefused)
			l, err := s.Lock(ctx, o.key, o.lockOptions()...)
			cancel()
			// Whether the ctx ends while Lock waits or while it is inside
			// the backend's TryLock, the caller gets ErrLockTimeout.
			if l != nil || !errors.Is(err, backend.ErrLockTimeout) {
				return failf("Lock", "Lock of a held key = %v, %v; want ErrLockTimeout (%s)", l != nil, err, r.lockState(o.key))
			}
			return nil
		}
		// A free key is taken at once; the guard only stops a hang.
		ctx, cancel := context.WithTimeout(bg, guard)
		l, err := s.Lock(ctx, o.key, o.lockOptions()...)
		cancel()
		if err != nil || l == nil {
			return failf("Lock", "Lock of a free key = %v, %v (%s)", l != nil, err, r.lockState(o.key))
		}
		return r.took(o, l)

	case opUnlock:
		known, want := m.unlock(o.lock)
		if !known {
			return nil // the op that took it was shrunk away
		}
		return wantErr("Unlock", r.locks[o.lock].Unlock(bg), want)

	case opExtend:
		known, want := m.extend(o.lock, o.d)
		if !known {
			return nil
		}
		l := r.locks[o.lock]
		if f := wantErr("Extend", l.Extend(bg, o.d), want); f != nil {
			return f
		}
		if until := time.UnixMilli(ceilMs(r.m.now.Add(o.d))); want == nil && !l.Deadline().Equal(until) {
			return failf("Extend", "Deadline() after Extend(%v) = %v, want %v", o.d, l.Deadline(), until)
		}
	}
	return nil
}

// took checks a lock o acquired, which the model says it may, and
// records it.
func (r *runner) took(o op, l *livedict.Lock) *failure {
	if !r.m.acquire(o.id, o.key, o.lease()) {
		return failf(kindName(o.kind), "acquired a held key (%s)", r.lockState(o.key))
	}
	if l.Key() != o.key {
		return failf(kindName(o.kind), "Key() = %q, want %q", l.Key(), o.key)
	}
	// Fencing tokens grow with every acquisition of a key, so that a
	// resource can refuse a holder whose lease passed to another.
	if last := r.tokens[o.key]; l.Token() <= last {
		return failf(kindName(o.kind)+" token", "Token() = %d, not above the key's last token %d", l.Token(), last)
	}
	r.tokens[o.key] = l.Token()
	// A lease ends at the first millisecond at or after now+lease, as the
	// model keeps it.
	if want := time.UnixMilli(ceilMs(r.m.now.Add(o.lease()))); !l.Deadline().Equal(want) {
		return failf(kindName(o.kind), "Deadline() = %v, want %v", l.Deadline(), want)
	}
	r.locks[o.id] = l
	return nil
}

func (r *runner) lockState(key string) string {
	l, ok := r.m.locks[key]
	if !ok {
		return "the model has no lease on " + key
	}
	return fmt.Sprintf("the model has l%d's lease on %s until %+dms from now", l.holder, key, l.until-r.m.nowMs())
}

func kindName(k opKind) string {
	if k == opLock {
		return "Lock"
	}
	return "TryLock"
}

// finish moves the clock past the last deadline, so every value with a TTL
// expires, and checks that OnExpire fired once for each value the model
// saw expire, with that value, and for nothing else. OnExpire runs apart
// from the operations (on the scheduler, or on the hook pool), so the
// events are awaited, within the guard, and compared once Close has waited
// for every queued hook call: afterwards nothing more can arrive.
func (r *runner) finish() *failure {
	var last int64
	for _, e := range r.m.data {
		last = max(last, e.deadline)
	}
	if last > 0 {
		d := time.UnixMilli(last).Sub(r.m.now)
		r.clk.Advance(d)
		r.m.advance(d)
	}
	if n, err := r.s.Len(bg); err != nil || n != len(r.m.data) {
		return failf("Len", "at the end, past every deadline: Len = %d, %v; want %d", n, err, len(r.m.data))
	}
	want := sortEvents(r.m.expired)
	deadline := time.Now().Add(guard)
	for r.expire.len() < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	err := closeWithin(r.s)
	r.closed = true
	if err != nil {
		return failf("Close", "Close: %v", err)
	}
	got := sortEvents(r.expire.take())
	if d := gocmp.Diff(want, got); d != "" {
		return failf("OnExpire", "OnExpire events, waited up to %v (-want +got):\n%s", guard, d)
	}
	return nil
}

// sortEvents orders events by key and value: OnExpire events of different
// keys come in no particular order, and are compared as a multiset.
func sortEvents(evs []event) []event {
	out := slices.Clone(evs)
	if out == nil {
		out = []event{}
	}
	slices.SortFunc(out, func(a, b event) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Val.N, b.Val.N), strings.Compare(a.Val.Name, b.Val.Name))
	})
	return out
}

// shrink looks for a shorter sequence that fails the same way as f, as
// delta debugging does: it removes chunks of operations, halving the chunk
// when none can go, down to single operations, and joins clock steps that
// follow each other. Every attempt runs on a
// fresh backend, in a subtest that passes whatever the outcome, so that
// only the report fails the test. It returns the report.
func (p *program) shrink(t *testing.T, h Harness, first *failure) string {
	start := time.Now()
	attempts := 0
	try := func(ops []op) *failure {
		attempts++
		var f *failure
		t.Run(fmt.Sprintf("shrink-%03d", attempts), func(t *testing.T) { f = p.execute(t, h, ops) })
		if f != nil && f.kind == first.kind {
			return f
		}
		return nil
	}
	// A failure at op i does not depend on what comes after it.
	ops := p.ops[:min(first.at+1, len(p.ops))]
	best := try(ops)
	if best == nil {
		return p.report(h, p.ops, first, fmt.Sprintf(
			"the sequence did not fail again on a fresh backend (it depends on timing); the full sequence of %d ops:", len(p.ops)))
	}
	ops = ops[:min(best.at+1, len(ops))]
	stopped := ""
	mergeSteps := func() bool {
		merged := false
		for i := 0; i+1 < len(ops) && attempts < shrinkAttempts; i++ {
			if ops[i].kind != opAdvance || ops[i+1].kind != opAdvance {
				continue
			}
			one := ops[i]
			one.d += ops[i+1].d
			cand := slices.Concat(ops[:i], []op{one}, ops[i+2:])
			if f := try(cand); f != nil {
				ops, best, merged = cand[:min(f.at+1, len(cand))], f, true
				i--
			}
		}
		return merged
	}
	for chunk := max(len(ops)/2, 1); ; {
		removed := false
		for i := 0; i < len(ops); {
			if attempts >= shrinkAttempts || time.Since(start) > shrinkBudget {
				stopped = fmt.Sprintf(" (shrinking stopped after %d attempts, %v)", attempts, time.Since(start).Round(time.Second))
				break
			}
			cand := slices.Concat(ops[:i], ops[min(i+chunk, len(ops)):])
			if f := try(cand); f != nil {
				ops, best, removed = cand[:min(f.at+1, len(cand))], f, true
				continue
			}
			i += chunk
		}
		if stopped != "" {
			break
		}
		if chunk == 1 && !removed {
			// No single op can go. Two clock steps in a row can be one,
			// and then ops may go again.
			if !mergeSteps() {
				break
			}
			removed = true
		}
		if !removed {
			chunk /= 2
		}
		chunk = max(min(chunk, len(ops)/2), 1)
	}
	return p.report(h, ops, best, fmt.Sprintf("shortest failing sequence found: %d of %d ops, after %d runs%s:",
		len(ops), len(p.ops), attempts, stopped))
}

// report writes a failing sequence as Go statements, with the seed that
// generated it.
func (p *program) report(h Harness, ops []op, f *failure, headline string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backend %s disagrees with the model: %s (seed %d; run it again with %s=%d %s=1)\n",
		h.Name, f.kind, p.seed, ModelSeedEnv, p.seed, ModelRunsEnv)
	b.WriteString(headline + "\n")
	def := ""
	if p.defaultTTL > 0 {
		def = fmt.Sprintf(", WithDefaultTTL(%v)", p.defaultTTL)
		if p.defaultIdle {
			def = fmt.Sprintf(", WithDefaultIdle(%v)", p.defaultTTL)
		}
	}
	fmt.Fprintf(&b, "\tclk := clock.NewFake(%s)\n", epoch.Format(time.RFC3339))
	fmt.Fprintf(&b, "\ts := New(WithClock(clk)%s)\n", def)
	inline := ""
	if p.inlineExpire {
		inline = ", Inline()"
	}
	fmt.Fprintf(&b, "\ts.OnSet(record, Inline()); s.OnDelete(record, Inline()); s.OnExpire(record%s)\n", inline)
	for i, o := range ops {
		b.WriteString("\t" + o.String())
		if i == f.at {
			b.WriteString("\t// <- fails")
		}
		b.WriteString("\n")
	}
	if f.at >= len(ops) {
		b.WriteString("\t// end: clk.Advance past the last deadline; wait for OnExpire events; s.Close()\t// <- fails\n")
	}
	fmt.Fprintf(&b, "where v(n) is item(\"v<n>\", n)\n%s", f.msg)
	return b.String()
}
