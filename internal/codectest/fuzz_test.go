package codectest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	ldruntime "github.com/livedict/livedict/runtime"
)

// fuzzDecode checks that arbitrary bytes decode to a value or to an error
// wrapping ErrCorrupt or ErrSchema, never a panic, that what decodes
// encodes again to the same value, and that decoding into a used value
// gives what decoding into a new one does.
func fuzzDecode[T any](f *testing.F, c codec[T]) {
	g := newGen(99)
	var used []T
	for range 16 {
		v := c.gen(g)
		f.Add(c.encode(f, nil, &v))
		used = append(used, v)
	}
	var zero T
	f.Add(c.encode(f, nil, &zero))
	f.Add([]byte{})
	f.Add([]byte{ldruntime.WireVersion})
	f.Add([]byte{ldruntime.WireVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.decodeBytes(data)
		into := c.clone(used[len(data)%len(used)])
		intoErr := c.decodeInto(data, &into)
		if (err == nil) != (intoErr == nil) || err != nil && err.Error() != intoErr.Error() {
			t.Fatalf("Decode into a new value: %v; into a used one: %v", err, intoErr)
		}
		if d := cmp.Diff(v, into, cmpOpts...); d != "" {
			t.Fatalf("decoded into a used value (-new +used):\n%s", d)
		}
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
