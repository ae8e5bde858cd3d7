package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedict/livedict/internal/testmod"
)

const itemSrc = `package p

// Item is stored.
//
//livedict:store key=string ttl=1m
type Item struct {
	Name string
	Tags []string
}
`

// chdir runs the CLI from dir, as go generate does.
func chdir(t *testing.T, dir string) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(old) })
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/p", false, map[string]string{"item.go": itemSrc})
	chdir(t, dir)
	gen := filepath.Join(dir, "item_livedict.go")

	if code, _, stderr := runCLI(t, "-check"); code != 1 || !strings.Contains(stderr, "missing: item_livedict.go") {
		t.Fatalf("missing file: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	info, err := os.Stat(gen)
	if err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "-check"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("current: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	// Regenerating an unchanged file leaves it alone.
	if code, _, _ := runCLI(t); code != 0 {
		t.Fatal("second generate failed")
	}
	if again, _ := os.Stat(gen); !again.ModTime().Equal(info.ModTime()) {
		t.Error("an unchanged generated file was rewritten")
	}

	// Stale: the struct changed.
	if err := os.WriteFile(filepath.Join(dir, "item.go"), []byte(strings.Replace(itemSrc, "Tags []string", "Tags []string\n\tSize int", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "-check")
	if code != 1 || !strings.Contains(stderr, "stale: item_livedict.go") || !strings.Contains(stderr, "Size") {
		t.Fatalf("stale file: exit %d, stderr %q", code, stderr)
	}

	// Orphaned: the annotated type is gone.
	if err := os.WriteFile(filepath.Join(dir, "item.go"), []byte("package p\n\ntype Item struct{ Name string }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "-check"); code != 1 || !strings.Contains(stderr, "orphaned: item_livedict.go") {
		t.Fatalf("orphaned file: exit %d, stderr %q", code, stderr)
	}
}

func TestFlags(t *testing.T) {
	if code, stdout, _ := runCLI(t, "-version"); code != 0 || !strings.HasPrefix(stdout, "livedictgen ") {
		t.Errorf("-version: exit %d, %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, "-h"); code != 0 || !strings.Contains(stderr, "//livedict:store") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "-nosuchflag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}

	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/p", false, map[string]string{
		"item.go":   "package p\n\ntype Item struct{ A int }\n\ntype Other struct{ B string }\n",
		"tagged.go": "//go:build special\n\npackage p\n\n//livedict:store\ntype Special struct{ C int }\n",
	})
	chdir(t, dir)
	if code, _, stderr := runCLI(t, "-tags", "special", "-type", "Item,Special", "-output", "stores_livedict.go"); code != 2 || !strings.Contains(stderr, "-output needs exactly one") {
		t.Errorf("-output with two files: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "-type", "Item,Other", "-output", "stores_livedict.go"); code != 0 {
		t.Fatalf("-output: exit %d: %s", code, stderr)
	}
	if err := os.Remove(filepath.Join(dir, "stores_livedict.go")); err != nil {
		t.Errorf("-output did not write its file: %v", err)
	}
	if code, _, stderr := runCLI(t, "-type", "Item"); code != 0 {
		t.Fatalf("-type Item: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "item_livedict.go")); err != nil {
		t.Errorf("-type Item wrote nothing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tagged_livedict.go")); err == nil {
		t.Error("a file behind a build tag was generated without -tags")
	}
	if code, _, stderr := runCLI(t, "-tags", "special"); code != 0 {
		t.Fatalf("-tags special: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "tagged_livedict.go")); err != nil {
		t.Errorf("-tags special did not generate the tagged file: %v", err)
	}
	if code, _, stderr := runCLI(t, "-type", "Nope"); code != 1 || !strings.Contains(stderr, "no such type") {
		t.Errorf("-type Nope: exit %d, %q", code, stderr)
	}
}

// TestNewUser does what the README tells a new user to do, in a module of
// its own: declare the tool, annotate a struct, go generate, use the store.
func TestNewUser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/app", true, map[string]string{
		"session/session.go": quickStart(t),
		"main.go": `package main

import (
	"context"
	"fmt"
	"time"

	"github.com/livedict/livedict"
	"example.com/app/session"
)

func main() {
	ctx := context.Background()
	store, err := session.NewSessionStore()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	if err := store.Set(ctx, "tok", session.Session{UserID: "alice", Roles: []string{"admin"}}, livedict.TTL(time.Minute)); err != nil {
		panic(err)
	}
	s, ok, err := store.Get(ctx, "tok")
	fmt.Println(s.UserID, s.Roles, ok, err)
}
`,
	})
	for _, step := range [][]string{{"go", "generate", "./..."}, {"go", "vet", "./..."}, {"go", "run", "."}} {
		cmd := exec.Command(step[0], step[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(step, " "), err, out)
		}
		if step[1] == "run" && strings.TrimSpace(string(out)) != "alice [admin] true <nil>" {
			t.Fatalf("go run printed %q", out)
		}
	}
}

// TestVerboseAndWarnings: -v lists every store; a directive that is not
// read is a positioned warning on stderr that leaves the exit status 0,
// in -check mode too; an error still fails the run.
func TestVerboseAndWarnings(t *testing.T) {
	dir := t.TempDir()
	testmod.Write(t, dir, "example.com/p", false, map[string]string{
		"item.go": itemSrc + `
// OrderID keys orders.
type OrderID uint32

//livedict:store key=OrderID name=Orders bucket=orders
type Order struct{ Total int }

// livedict:store
type Draft struct{ A int }
`,
	})
	chdir(t, dir)
	const warning = "item.go:17:1: warning: livedictgen: \"// livedict:store\" is not a directive (it has a space after //), so Draft gets no store; write it as //livedict:store\n"
	code, stdout, stderr := runCLI(t, "-v")
	if code != 0 || stdout != "" {
		t.Fatalf("-v: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, want := range []string{
		warning,
		"store: example.com/p.Item: ItemStore, key string, bucket \"item\", ttl 1m0s -> item_livedict.go\n",
		"store: example.com/p.Order: Orders, key OrderID (uint32), bucket \"orders\", ttl none -> item_livedict.go\n",
		"wrote: item_livedict.go\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "item_livedict.go")); err != nil {
		t.Fatalf("the warning stopped generation: %v", err)
	}
	if code, _, stderr := runCLI(t, "-check"); code != 0 || !strings.HasSuffix(stderr, warning) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("-check with a warning only: exit %d, stderr %q; want 0 and the warning", code, stderr)
	}
	if code, _, stderr := runCLI(t, "-check", "-v"); code != 0 || strings.Count(stderr, "store: ") != 2 || !strings.Contains(stderr, warning) {
		t.Errorf("-check -v: exit %d, stderr %q", code, stderr)
	}

	// With an error as well, the run fails and shows both.
	if err := os.WriteFile(filepath.Join(dir, "item.go"), []byte(strings.Replace(itemSrc, "ttl=1m", "ttl=1m ttl=2m", 1)+"\n// livedict:store\ntype Draft struct{ A int }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t)
	if code != 1 || !strings.Contains(stderr, "the option ttl= is given twice") || !strings.Contains(stderr, "warning:") {
		t.Errorf("error and warning: exit %d, stderr %q", code, stderr)
	}
}

// quickStart is the annotated package of the README's quick start, step 2,
// as a user would paste it: TestNewUser builds it, so the README stays true.
func quickStart(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(testmod.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "2. Annotate a struct")
	if !ok {
		t.Fatal("README: no quick-start step 2")
	}
	_, rest, ok = strings.Cut(rest, "   ```go\n")
	code, _, ok2 := strings.Cut(rest, "   ```\n")
	if !ok || !ok2 {
		t.Fatal("README: quick-start step 2 has no go code block")
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(code, "\n") {
		b.WriteString(strings.TrimPrefix(line, "   "))
	}
	return b.String()
}
