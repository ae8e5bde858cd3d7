package gen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/internal/gen"
	"github.com/livedict/livedict/internal/testmod"
)

// TestWarnings runs the generator on each package of testdata/warnings:
// each holds directives livedictgen does not read (near misses, or not in a
// type's doc comment) next to a good one. Generation must succeed, generate
// the good store (KeptStore), and warn as want.txt says (file names
// relative to the package), each warning positioned.
func TestWarnings(t *testing.T) {
	root := repoRoot(t)
	dirs, err := filepath.Glob(filepath.Join(root, "testdata", "warnings", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no warning cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			dir := rawCase(t, dir)
			res, err := gen.Run(gen.Config{Dir: dir})
			if err != nil {
				t.Fatalf("warnings stopped generation: %v", err)
			}
			if len(res.Outputs) != 1 || !strings.Contains(string(res.Outputs[0].Content), "type KeptStore struct") {
				t.Fatalf("want the one output with KeptStore, got %d outputs", len(res.Outputs))
			}
			if len(res.Warnings) == 0 {
				t.Fatal("no warnings")
			}
			for _, w := range res.Warnings {
				if !w.Warning || !w.Pos.IsValid() || w.Pos.Column == 0 {
					t.Errorf("not a positioned warning: %+v", w)
				}
			}
			got := strings.ReplaceAll(res.Warnings.Error(), dir+string(filepath.Separator), "") + "\n"
			wantFile := filepath.Join(root, "testdata", "warnings", filepath.Base(t.Name()), "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/gen -update)\ngot:\n%s", err, got)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("warnings differ (-want +got):\n%s", d)
			}
		})
	}
}

// TestNoWarningsForGoodDirectives: directives where find reads them, and
// prose or examples that merely mention the directive, warn about nothing.
func TestNoWarningsForGoodDirectives(t *testing.T) {
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/p", false, map[string]string{
		"x.go": `// Package p mentions //livedict:store in prose, and shows it:
//
//	// livedict:store is not a directive; this is:
//	//livedict:store key=int
package p

// A is stored.
//
//livedict:store key=int ttl=1m
type A struct{ N int }

type (
	// B is stored, from a group.
	//
	//livedict:store
	B struct{ N int }
	C struct{ N int }
)

//livedict:store
type D struct{ N int } // a line comment that says livedict:store
`,
	})
	res, err := gen.Run(gen.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("unexpected warnings:\n%v", res.Warnings)
	}
	if len(res.Stores) != 3 {
		t.Errorf("stores: %+v", res.Stores)
	}
}

// rawCase returns the directory of a warning case. A case whose sources
// gofmt would change (the near misses gofmt rewrites) keeps them as
// *.go.raw; they are copied as *.go into a module of their own, so that the
// repository's Go files stay gofmt-clean.
func rawCase(t *testing.T, dir string) string {
	t.Helper()
	raws, _ := filepath.Glob(filepath.Join(dir, "*.go.raw"))
	if len(raws) == 0 {
		return dir
	}
	tmp := t.TempDir()
	files := map[string]string{"go.mod": "module example.com/" + filepath.Base(dir) + "\n\ngo 1.24\n"}
	for _, r := range raws {
		src, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(filepath.Base(r), ".raw")] = string(src)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tmp
}
