package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"go.uber.org/goleak"
)

func TestDeadlineRoundsUp(t *testing.T) {
	base := time.UnixMilli(1_000_000)
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want int64
	}{
		{"whole ms", base, 5 * time.Millisecond, 1_000_005},
		{"sub-ms now", base.Add(400 * time.Microsecond), time.Millisecond, 1_000_002},
		{"sub-ms ttl", base, 100 * time.Microsecond, 1_000_001},
		{"one ns", base, time.Nanosecond, 1_000_001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deadline(tt.now, tt.ttl)
			if got != tt.want {
				t.Fatalf("deadline(%v, %v) = %d, want %d", tt.now.UnixNano(), tt.ttl, got, tt.want)
			}
			// Never readable for less than the TTL.
			if time.UnixMilli(got).Sub(tt.now) < tt.ttl {
				t.Fatalf("deadline %d is less than %v after now", got, tt.ttl)
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
		opt  Option
		want string
	}{
		{"empty bucket", WithBucket(""), "WithBucket"},
		{"zero ttl", WithDefaultTTL(0), "WithDefaultTTL"},
		{"negative limit", WithMaxKeys(-1, backend.RejectNew), "WithMaxKeys"},
		{"bad policy", WithMaxKeys(3, backend.Policy(9)), "policy"},
		{"nil clock", WithClock(nil), "WithClock"},
		{"zero workers", WithHookWorkers(0), "WithHookWorkers"},
		{"bad overflow", WithHookQueue(8, Overflow(7)), "overflow"},
		{"short key", WithCipher([]byte("short")), "16, 24 or 32"},
		{"no keys", WithCipher(), "no key"},
		{"nil logger", WithLogger(nil), "WithLogger"},
		{"nil backend", WithBackend(nil), "WithBackend"},
		{"zero retention", WithExpiryRetention(0), "WithExpiryRetention"},
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

func TestForKeyConverts(t *testing.T) {
	if got := keyOf[int64](5, "OnSet"); got != 5 {
		t.Fatalf("keyOf[int64](5) = %d", got)
	}
	type userID string
	if got := keyOf[userID]("u1", "OnSet"); got != "u1" {
		t.Fatalf("keyOf[userID](u1) = %q", got)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "this store's keys are") {
			t.Fatalf("keyOf with a string for an int key: recovered %v", r)
		}
	}()
	keyOf[int]("x", "OnSet")
}

func TestSchedulerSleepsWithoutTicker(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_900_000_000, 0))
	s, err := New(testCodec(), WithClock(fake))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "a", 1, TTL(time.Second)); err != nil {
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
