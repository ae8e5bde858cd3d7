package livedict_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/livedict/livedict/internal/testmod"
)

// memoryOnly is a user's program with one generated store on the memory
// backend, and nothing else of livedict.
const memoryOnly = `package main

import (
	"context"
	"fmt"

	ex "github.com/livedict/livedict/generated_example"
)

func main() {
	s, err := ex.NewCounterStore()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, 1, ex.Counter{Hits: 41}); err != nil {
		panic(err)
	}
	c, ok, err := s.Get(ctx, 1)
	fmt.Println(c.Hits+1, ok, err)
}
`

// TestMemoryOnlyBinary: a program whose stores use only the memory backend
// links neither go-redis nor the cgo SQLite driver, builds with
// CGO_ENABLED=0, and is a static executable. Its size is logged for the
// README (go test -run MemoryOnlyBinary -v).
func TestMemoryOnlyBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/memonly", false, map[string]string{"main.go": memoryOnly})
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	deps := strings.Fields(goCmd("list", "-deps", "."))
	for _, banned := range []string{"github.com/redis/go-redis/v9", "github.com/mattn/go-sqlite3",
		"github.com/livedict/livedict/backends/redis", "github.com/livedict/livedict/backends/sqlite", "runtime/cgo"} {
		if slices.Contains(deps, banned) {
			t.Errorf("a memory-only program imports %s", banned)
		}
	}
	bin := filepath.Join(dir, "memonly")
	goCmd("build", "-o", bin, ".")
	if out := goCmd("run", "."); strings.TrimSpace(out) != "42 true <nil>" {
		t.Errorf("the program printed %q", out)
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the memory-only program is dynamically linked (it has an ELF interpreter)")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the memory-only program needs shared libraries %v", libs)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memory-only program: %.1f MB, static", float64(st.Size())/1e6)
}

// TestSQLiteWithoutCgo: a program built with CGO_ENABLED=0 that imports the
// SQLite backend is told, where it writes the URI, that the driver needs
// cgo, instead of hearing of an unknown scheme.
func TestSQLiteWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/nocgo", false, map[string]string{"main.go": `package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/sqlite"
)

func main() {
	_, err := livedict.OpenURI(context.Background(), "sqlite:///tmp/never.db")
	fmt.Println(errors.Is(err, livedict.ErrInvalidOption), err)
}
`})
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if got := string(out); !strings.HasPrefix(got, "true ") || !strings.Contains(got, "needs cgo") {
		t.Fatalf("OpenURI(sqlite://) without cgo printed %q; want ErrInvalidOption saying it needs cgo", got)
	}
}
