package gen_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/livedict/livedict/internal/gen"
	"github.com/livedict/livedict/internal/testmod"
)

// BenchmarkGenerate100Types times one generator run (load, check, render,
// format; nothing written) over a package of 100 annotated types, each with
// a nested struct, a slice, a map, a time, a pointer, a struct of another
// package (http.Cookie) and a netip.Addr; the package imports livedict, as
// a package using its stores does:
//
//	go test ./internal/gen -run '^$' -bench Generate -benchtime 10x -count 5
//
// On a shared machine runs vary by tens of percent: compare the medians of
// two builds run in turn. The README has the figures.
func BenchmarkGenerate100Types(b *testing.B) { benchGenerate(b, 100) }

// BenchmarkGenerateOneType is the same for a package of one annotated type.
func BenchmarkGenerateOneType(b *testing.B) { benchGenerate(b, 1) }

func benchGenerate(b *testing.B, n int) {
	dir := b.TempDir()
	var src strings.Builder
	src.WriteString(`package many

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/livedict/livedict"
)

// Options is how the program opens its stores.
func Options() []livedict.Option { return []livedict.Option{livedict.WithDefaultTTL(time.Minute)} }
`)
	for i := range n {
		fmt.Fprintf(&src, `
// Part%[1]d is a nested value.
type Part%[1]d struct {
	Name string
	N    int64
}

// Rec%[1]d is stored.
//
//livedict:store key=string ttl=1m
type Rec%[1]d struct {
	ID      string
	Tags    []string
	Attrs   map[string]int
	At      time.Time
	Part    *Part%[1]d
	Parts   []Part%[1]d
	Score   float64
	Enabled bool
	Cookie  http.Cookie
	Addr    netip.Addr
}
`, i)
	}
	testmod.Write(b, dir, "example.com/many", false, map[string]string{"many.go": src.String()})
	want := fmt.Sprintf("Rec%dStore", n-1)
	// The first run fills the build cache with the dependencies' export
	// data, as any earlier build of the user's program would have.
	if _, err := gen.Run(gen.Config{Dir: dir}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := gen.Run(gen.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Outputs) != 1 || !strings.Contains(string(res.Outputs[0].Content), want) {
			b.Fatalf("generated %d files, want one holding %s", len(res.Outputs), want)
		}
	}
}
