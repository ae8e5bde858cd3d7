package templates

import (
	"strings"
	"testing"
)

// TestCloneTimesAndSkipped: the deep copy drops the monotonic reading of
// every time.Time it reaches and zeroes the skipped fields, so a struct
// with either needs a clone even without references.
func TestCloneTimesAndSkipped(t *testing.T) {
	tm := &Type{Kind: Time}
	f := &File{PkgName: "p", PkgPath: testPkg, Structs: []*Struct{
		{ID: "Stamp", Type: &Name{Path: testPkg, Name: "Stamp"}, Fields: []*Field{
			{Name: "At", Wire: "At", Type: tm},
			{Name: "P", Wire: "P", Type: &Type{Kind: Pointer, Elem: tm}},
			{Name: "L", Wire: "L", Type: &Type{Kind: Array, Len: 2, Elem: tm}},
			{Name: "K", Wire: "K", Type: &Type{Kind: Map, Key: tm, Elem: &Type{Kind: Int}}},
		}},
		{ID: "Skips", Type: &Name{Path: testPkg, Name: "Skips"}, Skipped: []string{"Secret", "cache"}, Fields: []*Field{
			{Name: "N", Wire: "N", Type: &Type{Kind: Int}},
		}},
		{ID: "Bare", Type: &Name{Path: testPkg, Name: "Bare"}, Fields: []*Field{{Name: "N", Wire: "N", Type: &Type{Kind: Int}}}},
	}}
	for _, c := range []struct {
		s    *Struct
		want []string
	}{
		{f.Structs[0], []string{
			"v.At = v.At.Round(0)",
			"*p0 = (*p0).Round(0)",
			"v.L[i0] = v.L[i0].Round(0)",
			"m0[k0.Round(0)] = x0",
		}},
		{f.Structs[1], []string{"v.Secret = Skips{}.Secret", "v.cache = Skips{}.cache"}},
	} {
		if !structHasRefs(f, c.s) {
			t.Errorf("%s gets no clone", c.s.ID)
		}
		src := renderDecls(t, structClone(f, c.s)...)
		for _, w := range c.want {
			if !strings.Contains(src, w) {
				t.Errorf("clone of %s lacks %q:\n%s", c.s.ID, w, src)
			}
		}
	}
	if structHasRefs(f, f.Structs[2]) {
		t.Error("a struct of an int gets a clone")
	}
	// Stamp shares memory through P and K; Skips only has its skipped
	// fields zeroed, which a value the clone returned already has.
	for _, c := range []struct {
		s      *Struct
		shares bool
	}{{f.Structs[0], true}, {f.Structs[1], false}, {f.Structs[2], false}} {
		if got := structShares(f, c.s); got != c.shares {
			t.Errorf("structShares(%s) = %v, want %v", c.s.ID, got, c.shares)
		}
	}
	times := &File{PkgName: "p", PkgPath: testPkg, Structs: []*Struct{
		{ID: "At", Type: &Name{Path: testPkg, Name: "At"}, Fields: []*Field{
			{Name: "T", Wire: "T", Type: tm},
			{Name: "L", Wire: "L", Type: &Type{Kind: Array, Len: 2, Elem: tm}},
			{Name: "N", Wire: "N", Type: &Type{Kind: Nested, Named: &Name{Path: testPkg, Name: "Inner"}}},
		}},
	}}
	times.Structs[0].Fields[2].Type.Named.ID = "Elsewhere" // emitted by another file: assumed to share
	if !structShares(times, times.Structs[0]) {
		t.Error("a struct nesting a struct of another file is taken not to share memory")
	}
	times.Structs[0].Fields = times.Structs[0].Fields[:2]
	if structShares(times, times.Structs[0]) {
		t.Error("a struct of times and an array of times is taken to share memory")
	}
}
