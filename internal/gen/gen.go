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
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	overlay, existing, err := hideGenerated(dir, patterns, cfg.Tags)
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
	if cfg.Tags != "" {
		pcfg.BuildFlags = []string{"-tags=" + cfg.Tags}
	}
	if len(overlay) > 0 {
		file, err := writeOverlay(overlay)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(filepath.Dir(file))
		pcfg.BuildFlags = append(pcfg.BuildFlags, "-overlay="+file)
	}
	pkgs, err := packages.Load(pcfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(patterns, " "), err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages match %s", strings.Join(patterns, " "))
	}
	res := &Result{Existing: existing}
	var diags, warnings Diagnostics
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	for _, pkg := range pkgs {
		warnings = append(warnings, directiveWarnings(pkg)...)
		files, ds := buildPackage(pkg, cfg.Types)
		diags = append(diags, ds...)
		if len(ds) > 0 {
			continue
		}
		for _, f := range files {
			content, err := templates.Render(f.model)
			if err != nil {
				return nil, err
			}
			res.Outputs = append(res.Outputs, Output{Path: f.path, Content: content})
			res.Stores = append(res.Stores, storeInfos(f)...)
		}
	}
	sortDiagnostics(warnings)
	if len(diags) > 0 {
		diags = append(diags, warnings...)
		sortDiagnostics(diags)
		return nil, diags
	}
	res.Warnings = warnings
	return res, nil
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

// hideGenerated finds the generated files of the packages the patterns name
// and replaces them, for the loader, with their package clause alone: a
// package whose generated file is stale or missing must still type-check
// well enough to generate it again.
func hideGenerated(dir string, patterns []string, tags string) (map[string][]byte, []string, error) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles, Dir: dir}
	if tags != "" {
		cfg.BuildFlags = []string{"-tags=" + tags}
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", strings.Join(patterns, " "), err)
	}
	overlay := map[string][]byte{}
	var existing []string
	seen := map[string]bool{}
	for _, pkg := range pkgs {
		dirs := map[string]bool{}
		for _, f := range append(append([]string{}, pkg.GoFiles...), pkg.IgnoredFiles...) {
			dirs[filepath.Dir(f)] = true
		}
		for d := range dirs {
			matches, _ := filepath.Glob(filepath.Join(d, "*"+Suffix))
			for _, m := range matches {
				if seen[m] || !isGenerated(m) {
					continue
				}
				seen[m] = true
				existing = append(existing, m)
				clause, err := packageClause(m)
				if err != nil {
					return nil, nil, err
				}
				overlay[m] = clause
			}
		}
	}
	sort.Strings(existing)
	return overlay, existing, nil
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
