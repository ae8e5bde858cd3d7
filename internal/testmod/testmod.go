// Package testmod writes throwaway Go modules that use this one, for tests
// that run the generator or the go command as a user would.
package testmod

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Root returns the directory of this module.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the module root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Write writes files into dir, plus a go.mod for module path that requires
// this module through a replace directive (and, when tool is true, declares
// livedictgen as a tool), and this module's go.sum.
func Write(t testing.TB, dir, path string, tool bool, files map[string]string) {
	t.Helper()
	root := Root(t)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The main module must require every module that provides a package
	// it builds, this module's dependencies included.
	mod := "module " + path + "\n\n" + goDirective(string(gomod)) + "\n\nrequire github.com/livedict/livedict v0.0.0\n\n" +
		requireBlocks(string(gomod)) + "replace github.com/livedict/livedict => " + root + "\n"
	if tool {
		mod += "\ntool github.com/livedict/livedict/cmd/livedictgen\n"
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"go.mod": mod, "go.sum": string(gosum)}
	for name, content := range files {
		all[name] = content
	}
	for name, content := range all {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// requireBlocks returns the require directives of a go.mod file.
func requireBlocks(gomod string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(gomod, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "require (":
			in = true
			b.WriteString(line + "\n")
		case in && trimmed == ")":
			in = false
			b.WriteString(")\n\n")
		case in, strings.HasPrefix(trimmed, "require "):
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// goDirective returns the go line of a go.mod file: a module that uses
// this one needs at least the same language version.
func goDirective(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if strings.HasPrefix(line, "go ") {
			return line
		}
	}
	return "go 1.24"
}
