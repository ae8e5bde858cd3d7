package codectest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/livedict/livedict/backend"
	ldruntime "github.com/livedict/livedict/runtime"
)

// cmpOpts compares decoded values: times by instant and zone offset (the
// encoding keeps the offset, not the *Location), NaN equal to NaN.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b time.Time) bool {
		_, ao := a.Zone()
		_, bo := b.Zone()
		return a.Equal(b) && ao == bo
	}),
	cmpopts.EquateNaNs(),
	cmp.AllowUnexported(Composite{}),
}

// codec is the generated code of one type, as the Codec literal of a store
// uses it.
type codec[T any] struct {
	name   string
	gen    func(*gen) T
	append func(*ldruntime.Encoder, *T)
	decode func(*ldruntime.Decoder, *T)
	clone  func(T) T
}

func (c codec[T]) encode(t testing.TB, dst []byte, v *T) []byte {
	t.Helper()
	out, err := ldruntime.Encode(dst, v, c.append)
	if err != nil {
		t.Fatalf("%s: Encode: %v", c.name, err)
	}
	return out
}

// decodeBytes decodes data into a new value, as a store does.
func (c codec[T]) decodeBytes(data []byte) (T, error) {
	var v T
	err := ldruntime.DecodeInto(data, &v, c.decode)
	return v, err
}

var (
	scalarsCodec   = codec[Scalars]{"Scalars", (*gen).scalars, livedictAppendScalars, livedictDecodeScalars, livedictCloneScalars}
	compositeCodec = codec[Composite]{"Composite", (*gen).composite, livedictAppendComposite, livedictDecodeComposite,
		livedictCloneComposite}
	nodeCodec = codec[Node]{"Node", func(g *gen) Node { return g.node(4) }, livedictAppendNode, livedictDecodeNode,
		livedictCloneNode}
	sessionCodec = codec[Session]{"Session", (*gen).session, livedictAppendSession, livedictDecodeSession,
		livedictCloneSession}
)

func checkRoundTrip[T any](t *testing.T, c codec[T], seed uint64) {
	g := newGen(seed)
	prefix := []byte("prefix")
	for i := range 1000 {
		v := c.gen(g)
		data := c.encode(t, append([]byte(nil), prefix...), &v)
		if string(data[:len(prefix)]) != string(prefix) {
			t.Fatalf("%s %d: Encode overwrote dst", c.name, i)
		}
		data = data[len(prefix):]
		got, err := c.decodeBytes(data)
		if err != nil {
			t.Fatalf("%s %d: Decode: %v", c.name, i, err)
		}
		if d := cmp.Diff(v, got, cmpOpts...); d != "" {
			t.Fatalf("%s %d: round trip (-want +got):\n%s", c.name, i, d)
		}
		// Every strict prefix, and a trailing byte, is refused.
		if i < 25 {
			for n := range len(data) {
				if _, err := c.decodeBytes(data[:n]); !errors.Is(err, backend.ErrCorrupt) {
					t.Fatalf("%s %d: Decode of %d of %d bytes: %v, want ErrCorrupt", c.name, i, n, len(data), err)
				}
			}
			if _, err := c.decodeBytes(append(data, 0)); !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("%s %d: Decode with a trailing byte: %v, want ErrCorrupt", c.name, i, err)
			}
			// Flipped bytes give a value or an error, never a panic.
			for range 20 {
				bad := append([]byte(nil), data...)
				bad[g.n(len(bad))] ^= byte(1 + g.n(255))
				if _, err := c.decodeBytes(bad); err != nil && !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
					t.Fatalf("%s %d: Decode of a damaged record: %v", c.name, i, err)
				}
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Run("Scalars", func(t *testing.T) { checkRoundTrip(t, scalarsCodec, 1) })
	t.Run("Composite", func(t *testing.T) { checkRoundTrip(t, compositeCodec, 2) })
	t.Run("Node", func(t *testing.T) { checkRoundTrip(t, nodeCodec, 3) })
	t.Run("Session", func(t *testing.T) { checkRoundTrip(t, sessionCodec, 4) })
}

func TestNilAndEmptyStayApart(t *testing.T) {
	v := Composite{Tags: []string{}, Blob: Blob{}, M: map[string]int{}, Names: Names{}, MS: map[string][]string{"a": nil, "b": {}}}
	got, err := compositeCodec.decodeBytes(compositeCodec.encode(t, nil, &v))
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags == nil || got.Blob == nil || got.M == nil || got.Names == nil || got.MS["a"] != nil || got.MS["b"] == nil {
		t.Fatalf("empty became nil or nil became empty: %#v", got)
	}
	if got.Ints != nil || got.MV != nil || got.Levels != nil {
		t.Fatalf("nil became empty: %#v", got)
	}
	var s Scalars
	gots, err := scalarsCodec.decodeBytes(scalarsCodec.encode(t, nil, &s))
	if err != nil || gots.Raw != nil {
		t.Fatalf("nil []byte came back as %#v, %v", gots.Raw, err)
	}
	s.Raw = []byte{}
	gots, err = scalarsCodec.decodeBytes(scalarsCodec.encode(t, nil, &s))
	if err != nil || gots.Raw == nil {
		t.Fatalf("empty []byte came back as %#v, %v", gots.Raw, err)
	}
}

func TestZeroValues(t *testing.T) {
	check := func(t *testing.T, data []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var s Scalars
	data, err := ldruntime.Encode(nil, &s, livedictAppendScalars)
	check(t, data, err)
	got, err := scalarsCodec.decodeBytes(data)
	check(t, data, err)
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("zero Scalars came back as %#v", got)
	}
	var c Composite
	data, err = ldruntime.Encode(nil, &c, livedictAppendComposite)
	check(t, data, err)
	gotc, err := compositeCodec.decodeBytes(data)
	check(t, data, err)
	if d := cmp.Diff(c, gotc, cmpOpts...); d != "" {
		t.Fatalf("zero Composite (-want +got):\n%s", d)
	}
}

// mutate changes every settable scalar reachable from v, through pointers,
// slices, arrays, maps and structs, in place where the memory is shared.
func mutate(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(v.Elem())
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.Add(time.Hour)))
			return
		}
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				mutate(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			mutate(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			mutate(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.String:
		v.SetString(v.String() + "!")
	}
}

func checkClone[T any](t *testing.T, c codec[T], seed uint64) {
	g := newGen(seed)
	for i := range 1000 {
		v := c.gen(g)
		snapshot, err := c.decodeBytes(c.encode(t, nil, &v)) // shares nothing with v
		if err != nil {
			t.Fatal(err)
		}
		clone := c.clone(v)
		if d := cmp.Diff(v, clone, cmpOpts...); d != "" {
			t.Fatalf("%s %d: clone differs (-orig +clone):\n%s", c.name, i, d)
		}
		mutate(reflect.ValueOf(&clone).Elem())
		if cmp.Equal(v, clone, cmpOpts...) {
			t.Fatalf("%s %d: mutate did not change the clone", c.name, i)
		}
		if d := cmp.Diff(snapshot, v, cmpOpts...); d != "" {
			t.Fatalf("%s %d: changing the clone changed the original (-before +after):\n%s", c.name, i, d)
		}
	}
}

func TestClone(t *testing.T) {
	t.Run("Scalars", func(t *testing.T) { checkClone(t, scalarsCodec, 11) })
	t.Run("Composite", func(t *testing.T) { checkClone(t, compositeCodec, 12) })
	t.Run("Node", func(t *testing.T) { checkClone(t, nodeCodec, 13) })
	t.Run("Session", func(t *testing.T) { checkClone(t, sessionCodec, 14) })
}

func TestCloneIsDeep(t *testing.T) {
	s := "s"
	ps := &s
	v := Composite{
		PP: &ps, Tags: []string{"a"}, Matrix: [][]uint16{{1}}, MS: map[string][]string{"k": {"x"}},
		MP: map[Label]*Inner{"l": {Tags: []string{"t"}}}, Path: Path{"p", "q"}, Paths: map[string]Path{"k": {"r"}},
		Blob: Blob("blob"), PS: &Inner{Tags: []string{"u"}},
	}
	c := livedictCloneComposite(v)
	**c.PP, c.Tags[0], c.Matrix[0][0], c.MS["k"][0] = "changed", "changed", 9, "changed"
	c.MP["l"].Tags[0], c.Path[0], c.Paths["k"][0], c.Blob[0], c.PS.Tags[0] = "changed", "changed", "changed", 'X', "changed"
	if s != "s" || v.Tags[0] != "a" || v.Matrix[0][0] != 1 || v.MS["k"][0] != "x" || v.MP["l"].Tags[0] != "t" ||
		v.Path[0] != "p" || v.Paths["k"][0] != "r" || string(v.Blob) != "blob" || v.PS.Tags[0] != "u" {
		t.Fatalf("the clone shares memory with the original: %+v", v)
	}
	// Plain holds no references but a time.Time: its clone drops the
	// monotonic reading, as the byte backends do (a type without either is
	// copied by assignment: templates.TestCloneTimesAndSkipped).
	p := Plain{At: time.Now()}
	if livedictCodecPlain.Clone == nil || livedictCodecPlain.Clone(p).At != p.At.Round(0) {
		t.Fatal("the clone of Plain keeps the monotonic reading")
	}
}

func TestSchemaEvolution(t *testing.T) {
	a := EvolveA{Keep: "k", Gone: 5, Old: "title", Changed: 7, In: &EvolveA{Keep: "inner", Old: "t2", Gone: 1}}
	data, err := ldruntime.Encode(nil, &a, livedictAppendEvolveA)
	if err != nil {
		t.Fatal(err)
	}

	// Added, removed and renamed (same wire name) fields.
	var b EvolveB
	if err := ldruntime.Decode(data, &b, livedictDecodeEvolveB); err != nil {
		t.Fatalf("A as B: %v", err)
	}
	want := EvolveB{Keep: "k", Title: "title", In: &EvolveB{Keep: "inner", Title: "t2"}}
	if d := cmp.Diff(want, b); d != "" {
		t.Fatalf("A as B (-want +got):\n%s", d)
	}
	// And back: B's new field is skipped, A's missing ones stay zero.
	b.Added = []int{1, 2}
	data2, err := ldruntime.Encode(nil, &b, livedictAppendEvolveB)
	if err != nil {
		t.Fatal(err)
	}
	var a2 EvolveA
	if err := ldruntime.Decode(data2, &a2, livedictDecodeEvolveA); err != nil {
		t.Fatalf("B as A: %v", err)
	}
	wantA := EvolveA{Keep: "k", Old: "title", In: &EvolveA{Keep: "inner", Old: "t2"}}
	if d := cmp.Diff(wantA, a2); d != "" {
		t.Fatalf("B as A (-want +got):\n%s", d)
	}

	// A field whose type changed.
	var c EvolveC
	err = ldruntime.Decode(data, &c, livedictDecodeEvolveC)
	if !errors.Is(err, backend.ErrSchema) || !strings.Contains(err.Error(), `field "Changed": stored as int32, this build reads string`) {
		t.Fatalf("A as C: %v, want ErrSchema naming Changed", err)
	}
	if !reflect.DeepEqual(c, EvolveC{}) {
		t.Fatalf("a failed Decode left %+v, want zero", c)
	}
	// Nested: the error names the path.
	w := WrapA{Inner: a}
	data3, err := ldruntime.Encode(nil, &w, livedictAppendWrapA)
	if err != nil {
		t.Fatal(err)
	}
	var wc WrapC
	err = ldruntime.Decode(data3, &wc, livedictDecodeWrapC)
	if !errors.Is(err, backend.ErrSchema) || !strings.Contains(err.Error(), `field "Inner.Changed": stored as int32, this build reads string`) {
		t.Fatalf("WrapA as WrapC: %v, want ErrSchema naming Inner.Changed", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	// A marshaler's error names the field.
	v := Composite{Plain: Plain{Ver: Version{Major: -1}}}
	_, err := ldruntime.Encode(nil, &v, livedictAppendComposite)
	if !errors.Is(err, errNegativeVersion) || !strings.Contains(err.Error(), `field "Plain.Ver"`) {
		t.Fatalf("Encode of a bad Version: %v", err)
	}
	dst := []byte("keep")
	out, err := ldruntime.Encode(dst, &v, livedictAppendComposite)
	if err == nil || string(out) != "keep" {
		t.Fatalf("a failed Encode returned %q, %v; want dst unchanged", out, err)
	}

	// Pointer cycles fail instead of overflowing the stack, also when a
	// cycle fans out.
	n := &Node{Val: 1}
	n.Next = n
	if _, err := ldruntime.Encode(nil, n, livedictAppendNode); err == nil || !strings.Contains(err.Error(), "pointer cycle") {
		t.Fatalf("Encode of a cycle: %v", err)
	}
	fan := &Node{}
	fan.Kids = []*Node{fan, fan, fan}
	if _, err := ldruntime.Encode(nil, fan, livedictAppendNode); err == nil {
		t.Fatal("Encode of a fanned-out cycle succeeded")
	}
}

func TestDepthLimit(t *testing.T) {
	chain := func(n int) *Node {
		var head *Node
		for i := range n {
			head = &Node{Val: i, Next: head}
		}
		return head
	}
	ok := chain(ldruntime.MaxDepth)
	data, err := ldruntime.Encode(nil, ok, livedictAppendNode)
	if err != nil {
		t.Fatalf("a chain of MaxDepth: %v", err)
	}
	got, err := nodeCodec.decodeBytes(data)
	if err != nil {
		t.Fatalf("decode a chain of MaxDepth: %v", err)
	}
	if d := cmp.Diff(*ok, got); d != "" {
		t.Fatalf("chain (-want +got):\n%s", d)
	}
	if _, err := ldruntime.Encode(nil, chain(ldruntime.MaxDepth+1), livedictAppendNode); err == nil {
		t.Fatal("a chain deeper than MaxDepth encoded")
	}
}

// TestNormalizedOnTheWayIn: a memory store of a type whose clone only
// normalizes (Plain: its time's monotonic reading) hands its stored values
// out without cloning them again, and they are normalized all the same,
// from the Set.
func TestNormalizedOnTheWayIn(t *testing.T) {
	if !livedictCodecPlain.CloneNormalizes {
		t.Fatal("Plain's codec does not say its clone only normalizes")
	}
	s, err := NewPlainStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	v := Plain{X: 1, At: time.Now()} // with a monotonic reading
	if err := s.Set(ctx, "k", v); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, ok, err := s.Get(ctx, "k")
		if err != nil || !ok {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if got.At != v.At.Round(0) {
			t.Fatalf("Get returned %v, want the time without its monotonic reading %v", got.At, v.At.Round(0))
		}
	}
}
