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
// a nested struct, a slice, a map, a time and a pointer:
//
//	go test ./internal/gen -run '^$' -bench Generate100 -benchtime 5x
func BenchmarkGenerate100Types(b *testing.B) {
	dir := b.TempDir()
	var src strings.Builder
	src.WriteString("package many\n\nimport \"time\"\n")
	for i := range 100 {
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
}
`, i)
	}
	testmod.Write(b, dir, "example.com/many", false, map[string]string{"many.go": src.String()})
	b.ResetTimer()
	for b.Loop() {
		res, err := gen.Run(gen.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Outputs) != 1 || !strings.Contains(string(res.Outputs[0].Content), "Rec99Store") {
			b.Fatalf("generated %d files, want one holding Rec99Store", len(res.Outputs))
		}
	}
}
