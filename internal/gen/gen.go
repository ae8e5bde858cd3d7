// Package gen is livedictgen's pipeline: load packages with go/packages,
// find the annotated types, build the templates model, and render one file
// per source file. It writes nothing; the command decides what to do with
// the outputs (write them, or compare them in -check mode).
package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"golang.org/x/tools/go/packages"

	"github.com/livedict/livedict/templates"
)

// Suffix ends the name of every generated file: x.go -> x_livedict.go.
const Suffix = "_livedict.go"

// Config is one run of the generator.
type Config struct {
	Dir      string   // where patterns are resolved; "" means the current directory
	Patterns []string // package patterns; none means "."
	Tags     string   // build tags, comma separated
	Types    []string // generate for these type names instead of reading directives
}

// Output is one generated file.
type Output struct {
	Path    string // absolute
	Content []byte
}

// Result is what a run produced.
type Result struct {
	Outputs []Output
	// Existing lists the generated files found on disk in the loaded
	// packages' directories (by suffix and header), to tell orphans.
	Existing []string
	// Warnings are problems that do not stop generation: directives that
	// are not read (a near miss, or not in a type's doc comment).
	Warnings Diagnostics
	// Stores lists the generated stores, in output order.
	Stores []StoreInfo
}

// Diagnostic is an error, or a warning, at a position in the user's source.
type Diagnostic struct {
	Pos     token.Position
	Msg     string
	Warning bool // a warning does not stop generation
}

func (d Diagnostic) String() string {
	msg := d.Msg
	if d.Warning {
		msg = "warning: " + msg
	}
	if !d.Pos.IsValid() {
		return msg
	}
	return fmt.Sprintf("%s: %s", d.Pos, msg)
}

// Diagnostics is the error of a run that found problems in the source.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Run loads, checks and renders. Any problem is returned as Diagnostics (or
// another error for failures outside the source); then nothing is returned
// to write. Warnings alone do not stop it: they are in Result.Warnings, or
// among the Diagnostics when there are errors too.
func Run(cfg Config) (*Result, error) {
	defer lessGC()()
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	dir := cfg.Dir
	var err error
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	// Directory patterns (go generate's ".") name their directories
	// without a go list of their own; should a loaded package lie elsewhere
	// (a symbolic link, say), the load is done again with go list's answer.
	dirs := patternDirs(dir, patterns)
	guessed := dirs != nil
	if !guessed {
		if dirs, err = listDirs(dir, patterns, cfg.Tags); err != nil {
			return nil, err
		}
	}
	ld, err := load(dir, cfg.Tags, patterns, dirs)
	if ld != nil {
		defer ld.cleanup()
	}
	if err == nil && guessed && !within(ld.pkgs, dirs) {
		if dirs, err = listDirs(dir, patterns, cfg.Tags); err != nil {
			return nil, err
		}
		ld, err = load(dir, cfg.Tags, patterns, dirs)
		if ld != nil {
			defer ld.cleanup()
		}
	}
	if err != nil {
		return nil, err
	}
	pkgs, existing := ld.pkgs, ld.existing
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages match %s", strings.Join(patterns, " "))
	}
	res := &Result{Existing: existing}
	var diags, warnings Diagnostics
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	errorsOf := dependencyErrors(ld.cfg, pkgs)
	var files []outFile
	for _, pkg := range pkgs {
		warnings = append(warnings, directiveWarnings(pkg)...)
		fs, ds := buildPackage(pkg, cfg.Types, errorsOf)
		diags = append(diags, ds...)
		if len(ds) == 0 {
			files = append(files, fs...)
		}
	}
	sortDiagnostics(warnings)
	if len(diags) > 0 {
		diags = append(diags, warnings...)
		sortDiagnostics(diags)
		return nil, diags
	}
	models := make([]*templates.File, len(files))
	for i, f := range files {
		models[i] = f.model
	}
	contents, err := templates.RenderAll(models)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		res.Outputs = append(res.Outputs, Output{Path: f.path, Content: contents[i]})
		res.Stores = append(res.Stores, storeInfos(f)...)
	}
	res.Warnings = warnings
	return res, nil
}

// gcPercent is the GOGC of a run. A run is short and allocates many times
// its live heap (syntax trees and text of the generated code, garbage as
// soon as each piece is formatted): at the default of 100 the collector
// took about a fifth of the CPU time of generating 100 types, and at 400
// it runs about a quarter as often, for a peak memory 10-20 MB larger in
// the runs measured. The Go compiler raises its GOGC at start for the same
// reason.
const gcPercent = 400

var gcState struct {
	sync.Mutex
	runs int // runs under way
	old  int // the GOGC before the first of them
}

// lessGC raises GOGC to gcPercent for the duration of a run, unless the
// user set GOGC, and returns what puts the old value back; overlapping runs
// restore it when the last one ends.
func lessGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcState.Lock()
	defer gcState.Unlock()
	if gcState.runs == 0 {
		gcState.old = debug.SetGCPercent(gcPercent)
		if gcState.old < 0 || gcState.old > gcPercent {
			debug.SetGCPercent(gcState.old) // off, or already higher: keep it
		}
	}
	gcState.runs++
	return func() {
		gcState.Lock()
		defer gcState.Unlock()
		if gcState.runs--; gcState.runs == 0 {
			debug.SetGCPercent(gcState.old)
		}
	}
}

func posLess(a, b token.Position) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Column < b.Column
}

// loaded is a load of the named packages, with the generated files found
// in their directories.
type loaded struct {
	cfg      *packages.Config
	pkgs     []*packages.Package
	existing []string
	cleanup  func() // removes the overlay file
}

// load loads the packages that the patterns name, whose directories are
// dirs. Their generated files are replaced, for the loader, by their
// package clause alone: a package whose generated file is stale or missing
// must still type-check well enough to generate it again.
func load(dir, tags string, patterns, dirs []string) (*loaded, error) {
	overlay, existing, err := hideGenerated(dirs)
	if err != nil {
		return nil, err
	}
	// Only the named packages are type-checked from source; their
	// dependencies' types come from the compiler's export data (no
	// NeedDeps), which the go command keeps in its build cache. The hidden
	// generated files go to the go command as an -overlay file rather than
	// as Config.Overlay, which would make the loader distrust every export
	// file and check all dependencies from source again; ParseFile gives the
	// loader the same hidden contents.
	pcfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedImports,
		Dir:   dir,
		Tests: false,
		ParseFile: func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
			if hidden, ok := overlay[filename]; ok {
				src = hidden
			}
			return parser.ParseFile(fset, filename, src, parser.AllErrors|parser.ParseComments)
		},
	}
	if tags != "" {
		pcfg.BuildFlags = []string{"-tags=" + tags}
	}
	ld := &loaded{cfg: pcfg, existing: existing, cleanup: func() {}}
	if len(overlay) > 0 {
		file, err := writeOverlay(overlay)
		if err != nil {
			return nil, err
		}
		ld.cleanup = func() { os.RemoveAll(filepath.Dir(file)) }
		pcfg.BuildFlags = append(pcfg.BuildFlags, "-overlay="+file)
	}
	if ld.pkgs, err = packages.Load(pcfg, patterns...); err != nil {
		return ld, fmt.Errorf("loading %s: %w", strings.Join(patterns, " "), err)
	}
	return ld, nil
}

// patternDirs returns the directories that the patterns name when every
// one is a directory (".", "./x", "../x", or absolute), as go list would
// resolve them; nil when a pattern needs go list (an import path, a
// "..." wildcard) or names no directory.
func patternDirs(dir string, patterns []string) []string {
	dirs := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if strings.Contains(p, "...") || !build.IsLocalImport(p) && !filepath.IsAbs(p) {
			return nil
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		p, err := filepath.Abs(p)
		if err != nil {
			return nil
		}
		if info, err := os.Stat(p); err != nil || !info.IsDir() {
			return nil
		}
		dirs = append(dirs, p)
	}
	return dirs
}

// listDirs asks go list for the directories of the packages the patterns
// name: those of their files, the ones build constraints leave out included.
func listDirs(dir string, patterns []string, tags string) ([]string, error) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles, Dir: dir}
	if tags != "" {
		cfg.BuildFlags = []string{"-tags=" + tags}
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", strings.Join(patterns, " "), err)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, pkg := range pkgs {
		for _, f := range append(append([]string{}, pkg.GoFiles...), pkg.IgnoredFiles...) {
			if d := filepath.Dir(f); !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	return dirs, nil
}

// within reports whether every file of the loaded packages lies in one of
// dirs: then hiding the generated files of dirs hid those of the packages.
func within(pkgs []*packages.Package, dirs []string) bool {
	in := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		in[d] = true
	}
	for _, pkg := range pkgs {
		for _, files := range [][]string{pkg.GoFiles, pkg.IgnoredFiles} {
			for _, f := range files {
				if !in[filepath.Dir(f)] {
					return false
				}
			}
		}
	}
	return true
}

// hideGenerated returns the generated files in dirs, with the contents
// that hide them (path -> package clause), and their sorted paths.
func hideGenerated(dirs []string) (map[string][]byte, []string, error) {
	overlay := map[string][]byte{}
	var existing []string
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "*"+Suffix))
		for _, m := range matches {
			if _, seen := overlay[m]; seen || !isGenerated(m) {
				continue
			}
			existing = append(existing, m)
			clause, err := packageClause(m)
			if err != nil {
				return nil, nil, err
			}
			overlay[m] = clause
		}
	}
	sort.Strings(existing)
	return overlay, existing, nil
}

// dependencyErrors returns a function that tells why the package at a path
// does not compile. The loader reads a dependency's types from export data
// and does not return its errors, so this loads the package again on its
// own: only a run that reports a broken type asks for it.
func dependencyErrors(cfg *packages.Config, loaded []*packages.Package) func(path string) []packages.Error {
	known := map[string][]packages.Error{}
	for _, p := range loaded {
		known[p.PkgPath] = p.Errors
	}
	return func(path string) []packages.Error {
		if errs, ok := known[path]; ok {
			return errs
		}
		dcfg := &packages.Config{Mode: packages.NeedName | packages.NeedSyntax | packages.NeedTypes,
			Dir: cfg.Dir, BuildFlags: cfg.BuildFlags, ParseFile: cfg.ParseFile}
		pkgs, err := packages.Load(dcfg, path)
		var errs []packages.Error
		if err != nil {
			errs = append(errs, packages.Error{Msg: err.Error()})
		}
		for _, p := range pkgs {
			errs = append(errs, p.Errors...)
		}
		known[path] = errs
		return errs
	}
}

// isGenerated reports whether the file starts with livedictgen's header.
func isGenerated(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return bytes.HasPrefix(data, []byte("// "+templates.Header))
}

// packageClause returns the file's build constraints and package clause,
// so the hidden file keeps its place in the build.
func packageClause(path string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build") {
				b.WriteString(c.Text + "\n\n")
			}
		}
	}
	fmt.Fprintf(&b, "package %s\n", f.Name.Name)
	return b.Bytes(), nil
}

// outputPath names the generated file of a source file.
func outputPath(src string) string {
	return strings.TrimSuffix(src, ".go") + Suffix
}

// writeOverlay writes the go command's -overlay file for overlay (path ->
// contents) into a new temporary directory, and returns its path.
func writeOverlay(overlay map[string][]byte) (string, error) {
	dir, err := os.MkdirTemp("", "livedictgen-overlay")
	if err != nil {
		return "", err
	}
	replace := map[string]string{}
	paths := make([]string, 0, len(overlay))
	for p := range overlay {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for i, p := range paths {
		f := filepath.Join(dir, fmt.Sprintf("%d.go", i))
		if err := os.WriteFile(f, overlay[p], 0o600); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		replace[p] = f
	}
	js, err := json.Marshal(struct{ Replace map[string]string }{replace})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "overlay.json"), js, 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return filepath.Join(dir, "overlay.json"), nil
}
