package codectest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	ldruntime "github.com/livedict/livedict/runtime"
)

// fuzzDecode checks that arbitrary bytes decode to a value or to an error
// wrapping ErrCorrupt or ErrSchema, never a panic, and that what decodes
// encodes again to the same value.
func fuzzDecode[T any](f *testing.F, c codec[T]) {
	g := newGen(99)
	for range 16 {
		v := c.gen(g)
		f.Add(c.encode(f, nil, &v))
	}
	var zero T
	f.Add(c.encode(f, nil, &zero))
	f.Add([]byte{})
	f.Add([]byte{ldruntime.WireVersion})
	f.Add([]byte{ldruntime.WireVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.decodeBytes(data)
		if err != nil {
			if !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
				t.Fatalf("Decode error %v wraps neither ErrCorrupt nor ErrSchema", err)
			}
			return
		}
		again, err := c.decodeBytes(c.encode(t, nil, &v))
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", c.name, err)
		}
		if d := cmp.Diff(v, again, cmpOpts...); d != "" {
			t.Fatalf("round trip of a decoded %s (-want +got):\n%s", c.name, d)
		}
	})
}

func FuzzDecodeScalars(f *testing.F)   { fuzzDecode(f, scalarsCodec) }
func FuzzDecodeComposite(f *testing.F) { fuzzDecode(f, compositeCodec) }
func FuzzDecodeNode(f *testing.F)      { fuzzDecode(f, nodeCodec) }
func FuzzDecodeSession(f *testing.F)   { fuzzDecode(f, sessionCodec) }
