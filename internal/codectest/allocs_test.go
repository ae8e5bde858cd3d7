//go:build !race

package codectest

import (
	"testing"

	ldruntime "github.com/livedict/livedict/runtime"
)

// Encoding into a reused buffer allocates nothing: the Encoder stays on the
// stack and every primitive appends in place.
func TestEncodeDoesNotAllocate(t *testing.T) {
	v := benchSession()
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = ldruntime.Encode(buf[:0], &v, livedictAppendSession); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Encode allocates %v times per call", allocs)
	}
}
