package sandbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livedict/livedict/sandbox"
)

// TestMain fails the package if any goroutine outlives the tests: every test
// releases its stuck hooks and closes its pools.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// guard is how long a test waits for something that should happen before
// failing instead of hanging. It is never a performance assertion.
const guard = 10 * time.Second

// eventually polls cond until it holds, failing the test after guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs fn in a goroutine and fails the test if it has not returned
// after guard.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatalf("still blocked after %v: %s", guard, what)
	}
}

// recorder collects the failures a pool reports.
type recorder struct {
	mu sync.Mutex
	fs []sandbox.Failure
}

func (r *recorder) add(f sandbox.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fs = append(r.fs, f)
}

func (r *recorder) failures() []sandbox.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sandbox.Failure(nil), r.fs...)
}

func (r *recorder) count(kind sandbox.FailureKind) int {
	n := 0
	for _, f := range r.failures() {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

// checkBalanced asserts the Stats identity of an idle pool: every accepted
// call ended one way or another.
func checkBalanced(t *testing.T, st sandbox.Stats) {
	t.Helper()
	ended := st.Completed + st.Panics + st.Timeouts + st.Dropped + st.Skipped
	if st.Submitted != ended || st.Queued != 0 {
		t.Errorf("stats do not balance: %+v (completed+panics+timeouts+dropped+skipped = %d)", st, ended)
	}
}

// block returns a hook body that signals started (unless nil) and then
// waits for release, ignoring its context.
func block(started chan<- struct{}, release <-chan struct{}) func(context.Context) {
	return func(context.Context) {
		if started != nil {
			started <- struct{}{}
		}
		<-release
	}
}

func noop(context.Context) {}
