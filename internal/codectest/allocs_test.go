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

// Decoding into a value that holds a record of the same shape allocates
// only the strings: the slice, the map and the pointed-to struct are
// reused.
func TestDecodeIntoUsedValueAllocatesStrings(t *testing.T) {
	v := benchSession()
	data := sessionCodec.encode(t, nil, &v)
	strs := 1 + len(v.Roles) + 2 + 2*len(v.Meta)
	var out Session
	fresh := testing.AllocsPerRun(100, func() {
		out = Session{}
		if err := ldruntime.DecodeInto(data, &out, livedictDecodeSession); err != nil {
			t.Fatal(err)
		}
	})
	used := testing.AllocsPerRun(100, func() {
		if err := ldruntime.DecodeInto(data, &out, livedictDecodeSession); err != nil {
			t.Fatal(err)
		}
	})
	if used > float64(strs) || fresh <= used {
		t.Fatalf("DecodeInto allocates %v times into a new value, %v into a used one; want %d (the strings) into a used one",
			fresh, used, strs)
	}
}
