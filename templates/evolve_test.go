package templates

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/runtime"
)

// acceptedShapes lists the signatures a field of type t reads, its own
// first.
func acceptedShapes(t *Type) []string {
	groups, _ := acceptedGroups(t)
	var out []string
	for _, g := range groups {
		var plain, pointers []string
		for _, s := range g.plain {
			plain = append(plain, s.Signature())
		}
		for _, s := range g.pointers {
			pointers = append(pointers, "*"+s.Signature())
		}
		if t.Kind == Pointer {
			plain, pointers = pointers, plain
		}
		out = append(append(out, plain...), pointers...)
	}
	return out
}

func TestAcceptedShapes(t *testing.T) {
	i64, f32 := &Type{Kind: Int64}, &Type{Kind: Float32}
	mapOf := func(k, v *Type) *Type { return &Type{Kind: Map, Key: k, Elem: v} }
	for _, c := range []struct {
		t          *Type
		want, deny []string
		n          int
	}{
		{t: &Type{Kind: Int32}, want: []string{"int32", "int16", "int8", "*int32", "*int8"}, deny: []string{"int64", "int", "uint8", "**int32"}, n: 6},
		{t: &Type{Kind: Uint}, want: []string{"uint64", "uintptr", "uint8", "*uint32"}, deny: []string{"int8"}, n: 12},
		{t: &Type{Kind: Float64}, want: []string{"float64", "float32", "*float32"}, n: 4},
		{t: f32, deny: []string{"float64"}, n: 2},
		{t: &Type{Kind: Duration}, deny: []string{"int64"}, n: 2},
		{t: &Type{Kind: Pointer, Elem: i64}, want: []string{"*int64", "*int8", "int64", "int8"}, deny: []string{"**int64"}, n: 10},
		{t: &Type{Kind: Slice, Elem: &Type{Kind: Int16}}, want: []string{"[]int16", "[]int8", "*[]int8"}, deny: []string{"[]*int16", "[]int32"}, n: 4},
		{t: &Type{Kind: Array, Len: 3, Elem: &Type{Kind: Float64}}, want: []string{"[3]float32"}, deny: []string{"[2]float64"}, n: 4},
		{t: mapOf(&Type{Kind: String}, &Type{Kind: Float64}), want: []string{"map[string]float32", "*map[string]float64"}, n: 4},
		{t: mapOf(i64, i64), want: []string{"map[int8]int32", "*map[int16]int"}, n: 50},
		// Past maxAccepted, only one change: a whole map[int64]int64
		// inside is 25 shapes.
		{t: mapOf(i64, mapOf(i64, i64)), want: []string{"map[int8]map[int64]int64", "map[int64]map[int64]int8", "*map[int64]map[int64]int64"}, deny: []string{"map[int8]map[int8]int64"}, n: 1 + 4 + 4 + 4 + 1},
		// Bytes, strings, structs: the pointer only.
		{t: &Type{Kind: Bytes}, want: []string{"bytes", "*bytes"}, n: 2},
		{t: &Type{Kind: Nested, Named: &Name{Name: "S"}}, want: []string{"struct", "*struct"}, n: 2},
	} {
		got := acceptedShapes(c.t)
		if got[0] != c.t.Signature() {
			t.Errorf("%s: first accepted %s, want itself", c.t.Signature(), got[0])
		}
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: does not accept %s: %v", c.t.Signature(), w, got)
			}
		}
		for _, w := range c.deny {
			if slices.Contains(got, w) {
				t.Errorf("%s: accepts %s", c.t.Signature(), w)
			}
		}
		if len(got) != c.n {
			t.Errorf("%s: accepts %d types, want %d: %v", c.t.Signature(), len(got), c.n, got)
		}
		if len(got) > maxAccepted {
			t.Errorf("%s: accepts %d types, over %d", c.t.Signature(), len(got), maxAccepted)
		}
	}
}

// TestRuntimeNamesShapes checks that the runtime names, in a schema error,
// a stored field of every basic shape this package writes, and of the
// composite shapes near the wanted one.
func TestRuntimeNamesShapes(t *testing.T) {
	var stored []*Type
	for k := range kindNames {
		stored = append(stored, &Type{Kind: k})
	}
	stored = append(stored,
		&Type{Kind: Nested, Named: &Name{Name: "S"}},
		&Type{Kind: Slice, Elem: &Type{Kind: Pointer, Elem: &Type{Kind: Duration}}},
		&Type{Kind: Map, Key: &Type{Kind: String}, Elem: &Type{Kind: Slice, Elem: &Type{Kind: Time}}},
	)
	// A wanted shape that none of them is.
	const want = "map[string][]float32"
	for _, s := range stored {
		data, err := runtime.Encode(nil, &struct{}{}, func(e *runtime.Encoder, _ *struct{}) {
			e.BeginStruct(1)
			f := e.BeginField("F", wireSignature(s))
			e.EndField(f)
			e.EndStruct()
		})
		if err != nil {
			t.Fatal(err)
		}
		err = runtime.Decode(data, &struct{}{}, func(d *runtime.Decoder, _ *struct{}) {
			for f := d.BeginStruct(); d.NextField(&f); {
				d.Mismatch(want)
			}
		})
		if !errors.Is(err, backend.ErrSchema) || strings.Contains(err.Error(), "another type") ||
			!strings.Contains(err.Error(), "this build reads map[string][]float32") {
			t.Errorf("stored as %s: %v", s.Signature(), err)
		}
	}
}
