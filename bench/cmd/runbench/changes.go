package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// change is a commit made from these benchmarks' findings. Every run builds
// the bench module against it and against its parent and measures the rows
// it was meant to move, alternating the two, so RESULTS.md says what it
// bought on the machine of that run.
type change struct {
	Commit  string
	Summary string
	// Base is the tree measured as "before", for a change made in several
	// commits; empty means the parent of Commit.
	Base string
	// ReadsUntouched marks a change that does not touch reads: its 100%
	// reads row is a control.
	ReadsUntouched bool
	// Dropped says why the change is no longer measured; the report says
	// it in its place.
	Dropped string
}

func (c change) base() string {
	if c.Base != "" {
		return c.Base
	}
	return c.Commit + "^"
}

var changes = []change{{
	Commit: "b877f01",
	Summary: "memory backend: deadlines in a 4-ary heap of (deadline, node) entries, moved lazily " +
		"when a Set extends a TTL; byte backends: each record's buffer sized from the last record",
	ReadsUntouched: true,
	Dropped: "these benchmarks postdate it (bench/ became a module of its own in c2e9bc1) and no " +
		"longer build against its tree or its parent. The runner now mends the go.sum mismatch for every " +
		"tree (that tree's root module requires go-redis v9.23.0, which the bench module's go.sum lacked), " +
		"but its generated stores register hooks without returning an error, which the adapters of " +
		"internal/caches cannot take. Its deadline heap was replaced in 0c67695, measured below; its " +
		"encode-buffer sizing is what the serializer section's fresh encode measures today",
}, {
	Commit: "6bc1656",
	Base:   "0c67695^",
	Summary: "memory backend: lock-free reads from per-shard open-addressing tables of immutable nodes, " +
		"deadlines filed by slot in buckets of time, one hash per operation, the monotonic clock; " +
		"expiry events without IDs or acks, claimed into reused buffers and queued to the hook pool " +
		"a batch at a time",
}}

// changeResult holds the measurements of a change's parent (0) and of the
// change (1).
type changeResult struct {
	Change     change
	Throughput [2][]benchRow // livedict rows of the Grant workload
	Store      [2][]benchRow // the Session store on SQLite
	Expiry     [2][]expiryResult
	Memory     [2]memoryResult
	Note       string // why it was not measured
}

func measureChanges(o options, rootDir, benchDir, tmp string) []changeResult {
	var out []changeResult
	for _, ch := range changes {
		out = append(out, measureChange(o, rootDir, benchDir, tmp, ch))
	}
	return out
}

func measureChange(o options, rootDir, benchDir, tmp string, ch change) (res changeResult) {
	res.Change = ch
	if ch.Dropped != "" {
		logf("changes: %s dropped", ch.Commit)
		return res
	}
	revs := [2]string{ch.base(), ch.Commit}
	var benchDirs [2]string
	var throughputBins, runbenchBins [2]string
	for i, rev := range revs {
		dir := treeDir(rootDir, rev)
		defer os.RemoveAll(dir)
		logf("changes: building %s at %s", ch.Commit, rev)
		if err := checkout(rootDir, rev, dir); err != nil {
			res.Note = err.Error()
			return res
		}
		bd := filepath.Join(dir, "bench")
		if err := copyBench(benchDir, bd); err != nil {
			res.Note = err.Error()
			return res
		}
		if err := fitTree(dir, bd); err != nil {
			res.Note = fmt.Sprintf("at %s: %v", rev, err)
			return res
		}
		var err error
		if throughputBins[i], err = compileTestEnv(bd, oldTreeEnv(), "./throughput", dir); err != nil {
			res.Note = err.Error()
			return res
		}
		runbenchBins[i] = filepath.Join(dir, "runbench")
		cmd := exec.Command("go", "build", "-o", runbenchBins[i], "./cmd/runbench")
		cmd.Dir = bd
		cmd.Env = oldTreeEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			res.Note = fmt.Sprintf("go build at %s: %v\n%s", rev, err, out)
			return res
		}
		benchDirs[i] = bd
	}
	var rounds [2][][]benchRow
	var storeRounds [2][][]benchRow
	for r := range o.rounds {
		for i := range revs {
			logf("changes: %s, round %d of %d", revs[i], r+1, o.rounds)
			out, err := runTestBinary(filepath.Join(benchDirs[i], "throughput"), throughputBins[i],
				"-test.run", "^$", "-test.bench", "Grant/reads=(100|50|0)%/livedict$", "-test.benchtime", o.benchtime)
			if err != nil {
				res.Note = fmt.Sprintf("throughput at %s: %v\n%s", revs[i], err, lastLines(out, 10))
				return res
			}
			rounds[i] = append(rounds[i], parseBench(out))
			out, err = goTestEnv(benchDirs[i], oldTreeEnv(), "./stores", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", o.benchtime)
			if err != nil {
				res.Note = fmt.Sprintf("stores at %s: %v\n%s", revs[i], err, lastLines(out, 10))
				return res
			}
			storeRounds[i] = append(storeRounds[i], parseBench(out))
		}
	}
	for i := range revs {
		res.Throughput[i] = medianRows(rounds[i])
		res.Store[i] = medianRows(storeRounds[i])
	}
	for range expiryRuns(o) {
		for i := range revs {
			logf("changes: expiry at %s", revs[i])
			var e expiryResult
			if err := runChildBin(o, runbenchBins[i], &e, "-child=expiry", "-cache=livedict",
				fmt.Sprintf("-keys=%d", o.expiryKeys), "-spread="+o.spread.String()); err != nil {
				e = expiryResult{Cache: "livedict", Error: err.Error()}
			}
			res.Expiry[i] = append(res.Expiry[i], e)
		}
	}
	for i := range revs {
		logf("changes: memory at %s", revs[i])
		if err := runChildBin(o, runbenchBins[i], &res.Memory[i], "-child=memory", "-cache=livedict",
			fmt.Sprintf("-keys=%d", o.memoryKeys)); err != nil {
			res.Memory[i] = memoryResult{Cache: "livedict", Error: err.Error()}
		}
	}
	return res
}

// treeDir is where the tree of rev is written, and removed once measured:
// the same directory from one run to the next (per repository), so that
// the go command's build cache, whose keys hold a package's directory, has
// the tree's packages from the last run.
func treeDir(rootDir, rev string) string {
	h := fnv.New64a()
	h.Write([]byte(rootDir))
	return filepath.Join(os.TempDir(), fmt.Sprintf("runbench-trees-%x", h.Sum64()), strings.NewReplacer("^", "-parent", "/", "_").Replace(rev))
}

// checkout writes the tree of rev into dir, emptied first.
func checkout(rootDir, rev, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "archive", "--format=tar", rev)
	archive.Dir = rootDir
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	tar, err := archive.Output()
	if err != nil {
		return fmt.Errorf("git archive %s (a shallow clone lacks it): %v %s", rev, err, stderr.String())
	}
	untar := exec.Command("tar", "-x", "-C", dir)
	untar.Stdin = bytes.NewReader(tar)
	if out, err := untar.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v %s", err, out)
	}
	return nil
}

// expiryRuns is how many times the changes section runs the expiry workload
// on each tree.
func expiryRuns(o options) int { return min(2, o.rounds) }

// copyBench copies the bench module's sources (not its results) to dst, so
// that the same benchmarks build against another tree. What the tree has at
// dst already (its own, older bench/) goes first, so that none of its files
// outlives the copy.
func copyBench(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == "charts" || rel == "proposals" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(rel, ".go") && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// shims stand in for files of the bench module that use what an older tree
// lacks: where no Go file of the tree's root package has needs, file is
// replaced by text.
var shims = []struct{ needs, file, text string }{{
	needs: "func WithoutCopies(",
	file:  "internal/caches/nocopies.go",
	text: `package caches

import "github.com/livedict/livedict"

// withoutCopiesOption: the tree measured has no WithoutCopies (a shim the
// bench runner wrote).
func withoutCopiesOption() livedict.Option { return nil }
`,
}}

// fitTree makes the copy of the bench module at bd build against the tree
// at dir: the tree's go.sum joins the module's (the tree may require
// other versions, go-redis v9.23.0 for one), the generated stores of
// package model are generated again by the tree's own livedictgen (the
// code the current generator writes calls what older runtimes lack), and
// the shims replace what needs more.
func fitTree(dir, bd string) error {
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(bd, "go.sum"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(sum)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var root []byte
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			root = append(root, b...)
		}
	}
	for _, s := range shims {
		if !bytes.Contains(root, []byte(s.needs)) {
			if err := os.WriteFile(filepath.Join(bd, s.file), []byte(s.text), 0o644); err != nil {
				return err
			}
		}
	}
	gen := exec.Command("go", "run", "github.com/livedict/livedict/cmd/livedictgen")
	gen.Dir = filepath.Join(bd, "model")
	gen.Env = oldTreeEnv()
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("livedictgen in bench/model: %v\n%s", err, out)
	}
	return nil
}

// oldTreeEnv is the environment of the builds against another tree: go.mod
// and go.sum may be updated (in the copy), from the module cache alone.
func oldTreeEnv() []string {
	flags := "-mod=mod"
	if out, err := exec.Command("go", "env", "GOFLAGS").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		flags = string(bytes.TrimSpace(out)) + " " + flags
	}
	return append(os.Environ(), "GOFLAGS="+flags, "GOPROXY=off")
}

// runChildBin runs a runbench binary built against another tree as a child.
func runChildBin(o options, bin string, v any, args ...string) error {
	return runChildExe(o, bin, v, args...)
}
