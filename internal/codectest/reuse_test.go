package codectest

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	ldruntime "github.com/livedict/livedict/runtime"
)

// decodeInto decodes data into *v as it stands, as DecodeInto does for a
// caller that reuses a value.
func (c codec[T]) decodeInto(data []byte, v *T) error {
	return ldruntime.DecodeInto(data, v, c.decode)
}

// checkReuse decodes random records, one after the other, into one value:
// each time the value must equal the record exactly (no entry, element or
// field of the value before), nil and empty told apart, whatever the value
// held.
func checkReuse[T any](t *testing.T, c codec[T], seed uint64) {
	g := newGen(seed)
	var v T
	for i := range 2000 {
		want := c.gen(g)
		data := c.encode(t, nil, &want)
		if err := c.decodeInto(data, &v); err != nil {
			t.Fatalf("%s %d: DecodeInto: %v", c.name, i, err)
		}
		if d := cmp.Diff(want, v, cmpOpts...); d != "" {
			t.Fatalf("%s %d: decoded into a used value (-want +got):\n%s", c.name, i, d)
		}
		// A damaged record leaves the value zero, or decodes as it does
		// into a new one.
		if i%10 == 0 && len(data) > 1 {
			bad := append([]byte(nil), data...)
			bad[1+g.n(len(bad)-1)] ^= byte(1 + g.n(255))
			fresh, freshErr := c.decodeBytes(bad)
			err := c.decodeInto(bad, &v)
			switch {
			case (err == nil) != (freshErr == nil) || err != nil && err.Error() != freshErr.Error():
				t.Fatalf("%s %d: damaged record: %v into a used value, %v into a new one", c.name, i, err, freshErr)
			case err != nil:
				var zero T
				if d := cmp.Diff(zero, v, cmpOpts...); d != "" {
					t.Fatalf("%s %d: a failed DecodeInto left (-zero +got):\n%s", c.name, i, d)
				}
			default:
				if d := cmp.Diff(fresh, v, cmpOpts...); d != "" {
					t.Fatalf("%s %d: damaged record into a used value (-new +used):\n%s", c.name, i, d)
				}
			}
		}
	}
}

func TestDecodeIntoUsedValue(t *testing.T) {
	t.Run("Scalars", func(t *testing.T) { checkReuse(t, scalarsCodec, 21) })
	t.Run("Composite", func(t *testing.T) { checkReuse(t, compositeCodec, 22) })
	t.Run("Node", func(t *testing.T) { checkReuse(t, nodeCodec, 23) })
	t.Run("Session", func(t *testing.T) { checkReuse(t, sessionCodec, 24) })
}

// TestDecodeIntoSharedMemory decodes into values whose parts share memory,
// with one another or with the value itself: reusing both would have one
// overwrite the other, so the decoder reuses one at most, and the result
// equals the record.
func TestDecodeIntoSharedMemory(t *testing.T) {
	want := Composite{
		Tags: []string{"t1", "t2", "t3"}, Names: Names{"n1", "n2"},
		PS: &Inner{Name: "ps", Tags: []string{"x"}}, In: Inner{Name: "in"},
		Blob: Blob("blob"), Hash: [16]byte{1, 2, 3}, M: map[string]int{"a": 1}, Extra: &Extra{Note: "x"},
	}
	data := compositeCodec.encode(t, nil, &want)
	for _, c := range []struct {
		name string
		v    func() *Composite
	}{
		{"two slices over one array", func() *Composite {
			backing := make([]string, 8)
			return &Composite{Tags: backing[:4], Names: Names(backing[2:6])}
		}},
		{"a pointer into the value", func() *Composite {
			v := &Composite{}
			v.PS = &v.In
			return v
		}},
		{"a slice over the value's array", func() *Composite {
			v := &Composite{}
			v.Blob = v.Hash[:]
			return v
		}},
		{"a pointer to the value's embedded struct", func() *Composite {
			v := &Composite{}
			v.Extra = (*Extra)(unsafe.Pointer(&v.Label)) // Extra is one string, as Label
			return v
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := c.v()
			if err := compositeCodec.decodeInto(data, v); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, *v, cmpOpts...); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}

	wantN := Node{Val: 1, Next: &Node{Val: 2, Next: &Node{Val: 6}}, Kids: []*Node{{Val: 3}, nil, {Val: 4, Next: &Node{Val: 5}}}}
	dataN := nodeCodec.encode(t, nil, &wantN)
	var chain *Node
	for i := range 20 {
		chain = &Node{Val: i, Next: chain}
	}
	for _, c := range []struct {
		name string
		v    func() *Node
	}{
		{"Next is one of the kids", func() *Node {
			kid := &Node{Val: 9}
			return &Node{Next: kid, Kids: []*Node{kid, kid}}
		}},
		{"its own Next", func() *Node {
			n := &Node{}
			n.Next = n
			return n
		}},
		{"Next's Next is the node", func() *Node {
			n := &Node{}
			n.Next = &Node{Next: n}
			return n
		}},
		{"a chain longer than the memory the decoder tracks", func() *Node {
			v := *chain
			return &v
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := c.v()
			if err := nodeCodec.decodeInto(dataN, v); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantN, *v); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	// A long chain into a long chain: what is past the tracked memory is
	// new.
	var long *Node
	for i := range 20 {
		long = &Node{Val: -i, Next: long}
	}
	if err := nodeCodec.decodeInto(nodeCodec.encode(t, nil, chain), long); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*chain, *long); d != "" {
		t.Fatalf("a long chain (-want +got):\n%s", d)
	}
}

// TestDecodeIntoKeepsNilAndEmpty: a nil slice or map in the record is nil
// after the decode, and an empty one empty, whatever the value held.
func TestDecodeIntoKeepsNilAndEmpty(t *testing.T) {
	full := Composite{Tags: []string{"a"}, Ints: []int{1}, Blob: Blob("b"), M: map[string]int{"k": 1}, Names: Names{"n"}}
	empty := Composite{Tags: []string{}, Ints: []int{}, Blob: Blob{}, M: map[string]int{}, Names: Names{}}
	for _, c := range []struct {
		name     string
		from, to Composite
	}{
		{"full to nil", full, Composite{}},
		{"full to empty", full, empty},
		{"empty to nil", empty, Composite{}},
		{"nil to empty", Composite{}, empty},
	} {
		v := c.from
		if err := compositeCodec.decodeInto(compositeCodec.encode(t, nil, &c.to), &v); err != nil {
			t.Fatal(err)
		}
		if (v.Tags == nil) != (c.to.Tags == nil) || (v.Ints == nil) != (c.to.Ints == nil) || (v.Blob == nil) != (c.to.Blob == nil) ||
			(v.M == nil) != (c.to.M == nil) || (v.Names == nil) != (c.to.Names == nil) {
			t.Errorf("%s: got %#v", c.name, v)
		}
		if len(v.Tags)+len(v.Ints)+len(v.Blob)+len(v.M)+len(v.Names) != 0 {
			t.Errorf("%s: stale elements: %#v", c.name, v)
		}
	}
}

// TestDecodeIntoError: a record that does not decode leaves the value zero
// and the error wraps ErrCorrupt, as with a new value.
func TestDecodeIntoError(t *testing.T) {
	v := benchSession()
	data := sessionCodec.encode(t, nil, &v)
	err := sessionCodec.decodeInto(data[:len(data)-1], &v)
	if !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("DecodeInto of a truncated record: %v", err)
	}
	if d := cmp.Diff(Session{}, v, cmpOpts...); d != "" {
		t.Fatalf("a failed DecodeInto left (-zero +got):\n%s", d)
	}
}
