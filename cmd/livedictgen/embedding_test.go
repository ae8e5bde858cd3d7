package main_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedict/livedict/internal/redistest"
	"github.com/livedict/livedict/internal/testmod"
)

// TestEmbeddingRoundTrip generates packages of random struct types that
// embed time.Time, a type with its own text marshaler, and each other, by
// value and by pointer, next to fields of their own; runs the generator
// on them as a user would; and round-trips random values on memory, SQLite
// and Redis, comparing with go-cmp. No combination may lose a field (a
// struct embedding a marshaler used to be stored through the promoted
// method, losing the fields it added).
func TestEmbeddingRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules with the go command")
	}
	redisURL, _ := redistest.Server(t)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			testmod.Write(t, dir, "example.com/embed", true, map[string]string{
				"shapes/shapes.go": randomShapes(rand.New(rand.NewPCG(seed, 99)), 12),
				"main.go":          embedMain,
			})
			for _, step := range [][]string{{"generate", "./..."}, {"vet", "./..."},
				{"run", ".", "memory://", "sqlite://" + filepath.ToSlash(filepath.Join(dir, "e.db")), redisURL}} {
				cmd := exec.Command("go", step...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					src, _ := exec.Command("cat", filepath.Join(dir, "shapes", "shapes.go")).Output()
					t.Fatalf("go %s: %v\n%s\nshapes.go:\n%s", strings.Join(step, " "), err, out, src)
				}
			}
		})
	}
}

// randomShapes writes a package of n struct types T0..Tn-1, each of a few
// fields drawn at random, and Root, the stored type, holding one of each.
func randomShapes(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString(`package shapes

//go:generate go tool livedictgen

import "time"

// Mark has a text marshaler of its own.
type Mark struct{ V string }

func (m Mark) MarshalText() ([]byte, error) { return []byte("m:" + m.V), nil }

func (m *Mark) UnmarshalText(b []byte) error {
	m.V = strings.TrimPrefix(string(b), "m:")
	return nil
}

// Equal lets go-cmp compare marks.
func (m Mark) Equal(o Mark) bool { return m == o }

var _ = time.Time{}

// OnlyMark embeds a pointer to a marshaler and nothing else.
type OnlyMark struct{ *Mark }

// OnlyTime embeds time.Time and nothing else: time's marshaler stores it.
type OnlyTime struct{ time.Time }
`)
	for i := range n {
		used := map[string]bool{}
		fmt.Fprintf(&b, "\ntype T%d struct {\n", i)
		for k := range 1 + r.IntN(4) {
			var line string
			switch c := r.IntN(9); {
			case c == 0:
				line = "time.Time"
			case c == 1:
				line = "Mark"
			case c == 2:
				line = "*Mark"
			case c <= 4 && i > 0:
				j := r.IntN(i)
				line = fmt.Sprintf("T%d", j)
				if c == 4 {
					line = "*" + line
				}
			case c == 5 && i > 0:
				line = fmt.Sprintf("P%d *T%d", k, r.IntN(i))
			case c == 6 && i > 0:
				line = fmt.Sprintf("S%d []T%d", k, r.IntN(i))
			case c == 7:
				line = fmt.Sprintf("At%d time.Time", k)
			default:
				line = fmt.Sprintf("F%d string", k)
			}
			name := strings.Fields(strings.TrimPrefix(line, "*"))[0]
			name = name[strings.LastIndex(name, ".")+1:]
			if used[name] {
				continue
			}
			used[name] = true
			b.WriteString("\t" + line + "\n")
		}
		b.WriteString("}\n")
	}
	b.WriteString("\n// Root is stored.\n//\n//livedict:store\ntype Root struct {\n\tOM OnlyMark\n\tOT OnlyTime\n\tPOT *OnlyTime\n")
	for i := range n {
		fmt.Fprintf(&b, "\tR%d T%d\n", i, i)
	}
	b.WriteString("}\n")
	return strings.Replace(b.String(), `import "time"`, "import (\n\t\"strings\"\n\t\"time\"\n)", 1)
}

// embedMain stores random Roots on each backend URI of its arguments.
const embedMain = `package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"
	_ "github.com/livedict/livedict/backends/sqlite"
	"example.com/embed/shapes"
)

func main() {
	ctx := context.Background()
	for _, uri := range os.Args[1:] {
		s, err := shapes.NewRootStore(livedict.WithURI(uri))
		if err != nil {
			panic(err)
		}
		r := rand.New(rand.NewPCG(7, 7))
		for i := range 20 {
			var v shapes.Root
			fill(r, reflect.ValueOf(&v).Elem(), 0)
			key := fmt.Sprint("k", i)
			if err := s.Set(ctx, key, v); err != nil {
				panic(err)
			}
			got, ok, err := s.Get(ctx, key)
			if err != nil || !ok {
				panic(fmt.Sprint(uri, ": Get: ", ok, err))
			}
			if d := cmp.Diff(v, got); d != "" {
				fmt.Printf("%s: value %d lost data (-stored +read):\n%s", uri, i, d)
				os.Exit(1)
			}
		}
		s.Close()
	}
}

var timeType = reflect.TypeFor[time.Time]()

func fill(r *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprint("s", r.IntN(1000)))
	case reflect.Pointer:
		if depth < 6 && r.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fill(r, p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if depth < 6 && r.IntN(3) > 0 {
			n := r.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fill(r, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}
`
