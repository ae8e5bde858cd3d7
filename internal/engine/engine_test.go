package engine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/clock"
	"go.uber.org/goleak"
)

func TestDeadlineRoundsUp(t *testing.T) {
	base := time.UnixMilli(1_000_000)
	limit := time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want int64 // 0: refused
	}{
		{"whole ms", base, 5 * time.Millisecond, 1_000_005},
		{"sub-ms now", base.Add(400 * time.Microsecond), time.Millisecond, 1_000_002},
		{"sub-ms ttl", base, 100 * time.Microsecond, 1_000_001},
		{"one ns", base, time.Nanosecond, 1_000_001},
		{"sub-ms now and ttl", base.Add(999 * time.Microsecond), 1500 * time.Microsecond, 1_000_003},
		{"MaxTTL", base, livedict.MaxTTL, 1_000_000 + livedict.MaxTTL.Milliseconds()},
		{"over MaxTTL", base, livedict.MaxTTL + 1, 0},
		{"largest Duration", time.Now(), math.MaxInt64, 0},
		{"negative", base, -time.Millisecond, 0},
		{"at the limit", limit.Add(-time.Hour), time.Hour, limit.UnixMilli()},
		{"past the limit", limit.Add(-time.Hour), time.Hour + time.Nanosecond, 0},
		{"past Unix nanoseconds", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), livedict.MaxTTL, 0},
		{"ends at 0", time.UnixMilli(-5), 5 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ceilMs(tt.now.UnixNano(), tt.ttl)
			if tt.want == 0 {
				if ok {
					t.Fatalf("ceilMs(%v, %v) = %d, want it refused", tt.now, tt.ttl, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("ceilMs(%v, %v) = %d, %v; want %d", tt.now, tt.ttl, got, ok, tt.want)
			}
			// Never readable for less than the TTL, and at most a
			// millisecond more.
			if d := time.UnixMilli(got).Sub(tt.now); d < tt.ttl || d >= tt.ttl+time.Millisecond {
				t.Fatalf("deadline %d is %v after now, want [%v, %v)", got, d, tt.ttl, tt.ttl+time.Millisecond)
			}
		})
	}
}

// TestDirectiveTTLChecked: the directive's ttl= obeys the limits of
// WithDefaultTTL, unless WithDefaultTTL replaces it.
func TestDirectiveTTLChecked(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 999 * time.Microsecond, livedict.MaxTTL + time.Millisecond} {
		c := testCodec()
		c.DefaultTTL = d
		s, err := New(c)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, livedict.ErrInvalidOption) || !strings.Contains(err.Error(), "ttl=") {
			t.Errorf("a directive ttl=%v: error %v, want ErrInvalidOption naming ttl=", d, err)
		}
		s, err = New(c, livedict.WithDefaultTTL(time.Minute))
		if err != nil {
			t.Errorf("a directive ttl=%v replaced by WithDefaultTTL: %v", d, err)
			continue
		}
		s.Close()
	}
}

// TestCopiesOptional: a codec's Clone makes every copy, unless the
// directive (Codec.NoCopies) or WithoutCopies turns copies off.
func TestCopiesOptional(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noCopies  bool
		opts      []livedict.Option
		wantCalls bool
	}{
		{"default", false, nil, true},
		{"copy=false", true, nil, false},
		{"WithoutCopies", false, []livedict.Option{livedict.WithoutCopies()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			c := testCodec()
			c.Clone = func(v int) int { calls++; return v }
			c.NoCopies = tc.noCopies
			s, err := New(c, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.Set(ctx, "k", 1); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "k"); v != 1 || !ok || err != nil {
				t.Fatalf("Get = %v, %v, %v", v, ok, err)
			}
			if (calls > 0) != tc.wantCalls {
				t.Errorf("Clone called %d times; want calls: %v", calls, tc.wantCalls)
			}
		})
	}
}

func testCodec() Codec[string, int] {
	k, p := StringKey[string]()
	return Codec[string, int]{TypeName: "int", Bucket: "t", KeyString: k, ParseKey: p}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  livedict.Option
		want string
	}{
		{"empty bucket", livedict.WithBucket(""), "WithBucket"},
		{"zero ttl", livedict.WithDefaultTTL(0), "WithDefaultTTL"},
		{"negative limit", livedict.WithMaxKeys(-1, livedict.RejectNew), "WithMaxKeys"},
		{"bad policy", livedict.WithMaxKeys(3, livedict.Policy(9)), "policy"},
		{"nil clock", livedict.WithClock(nil), "WithClock"},
		{"zero workers", livedict.WithHookWorkers(0), "WithHookWorkers"},
		{"bad overflow", livedict.WithHookQueue(8, livedict.Overflow(7)), "overflow"},
		{"short key", livedict.WithCipher([]byte("short")), "16, 24 or 32"},
		{"no keys", livedict.WithCipher(), "no key"},
		{"nil logger", livedict.WithLogger(nil), "WithLogger"},
		{"nil backend", livedict.WithBackend(nil), "WithBackend"},
		{"zero retention", livedict.WithExpiryRetention(0), "WithExpiryRetention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(testCodec(), tt.opt)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, backend.ErrInvalidOption) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidOption mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLockTableShrinks(t *testing.T) {
	s, err := New(testCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 100 {
		key := "k" + string(rune('a'+i%26))
		l, err := s.Lock(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			l2, err := s.Lock(ctx, key) // waits for the first
			if err == nil {
				err = l2.Unlock(ctx)
			}
			done <- err
		}()
		for s.waiting() == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.waiting(); n != 0 {
		t.Fatalf("lock wait table holds %d keys after every lock was released", n)
	}
}

// TestNoSilentOptions: a bad value, a key of another type, or two options
// that decide the same thing is an ErrInvalidOption naming the options,
// never a silent choice.
func TestNoSilentOptions(t *testing.T) {
	s, err := New(testCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	hook := func(context.Context, string, int) {}
	tests := []struct {
		name string
		err  func() error
		want []string
		is   error
	}{
		{"WithURI and WithBackend", func() error {
			_, err := New(testCodec(), livedict.WithURI("memory://"), livedict.WithBackend(memory.New()))
			return err
		}, []string{"WithURI", "WithBackend"}, livedict.ErrInvalidOption},
		{"TTL and NoExpiry", func() error { return s.Set(ctx, "k", 1, livedict.TTL(time.Second), livedict.NoExpiry()) },
			[]string{"TTL", "NoExpiry"}, livedict.ErrInvalidOption},
		{"KeepTTL and TTL", func() error { return s.Set(ctx, "k", 1, livedict.KeepTTL(), livedict.TTL(time.Second)) },
			[]string{"KeepTTL", "TTL"}, livedict.ErrInvalidOption},
		{"TTL(0)", func() error { return s.Set(ctx, "k", 1, livedict.TTL(0)) }, []string{"TTL(0s)"}, livedict.ErrInvalidTTL},
		{"HookTimeout(0)", func() error { _, err := s.OnSet(hook, livedict.HookTimeout(0)); return err },
			[]string{"OnSet", "HookTimeout"}, livedict.ErrInvalidOption},
		{"ForKey of another key type", func() error { _, err := s.OnSet(hook, ForKey[int](70000)); return err },
			[]string{"ForKey(70000)", "int"}, livedict.ErrInvalidOption},
		{"nil hook", func() error { _, err := s.OnExpire(nil); return err }, []string{"OnExpire", "nil"}, livedict.ErrInvalidOption},
		{"Lease(0) on Lock", func() error { _, err := s.Lock(ctx, "k", livedict.Lease(0)); return err },
			[]string{"Lease"}, livedict.ErrInvalidOption},
		{"Lease(-1) on TryLock", func() error { _, _, err := s.TryLock(ctx, "k", livedict.Lease(-1)); return err },
			[]string{"Lease"}, livedict.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// The same option twice is an override, not a conflict.
	if err := s.Set(ctx, "k", 1, livedict.TTL(time.Second), livedict.TTL(2*time.Second)); err != nil {
		t.Fatalf("TTL given twice: %v", err)
	}
	if d, _, _ := s.TTL(ctx, "k"); d <= time.Second {
		t.Fatalf("TTL given twice: the later should win, TTL() = %v", d)
	}
	if _, err := s.OnSet(hook, ForKey("k")); err != nil {
		t.Fatalf("ForKey of the store's key type: %v", err)
	}
}

func TestSchedulerSleepsWithoutTicker(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_900_000_000, 0))
	s, err := New(testCodec(), livedict.WithClock(fake))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "a", 1, livedict.TTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return fake.Timers() == 1 })
	fake.Advance(time.Second)
	waitUntil(t, func() bool { return s.Stats().Expired == 1 && fake.Timers() == 0 })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
