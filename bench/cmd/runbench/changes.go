package main

import (
	"bytes"
	"fmt"
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
	revs := [2]string{ch.base(), ch.Commit}
	var benchDirs [2]string
	var throughputBins, runbenchBins [2]string
	for i, rev := range revs {
		dir := filepath.Join(tmp, fmt.Sprintf("change-%s-%d", ch.Commit, i))
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
		var err error
		if throughputBins[i], err = compileTest(bd, "./throughput", dir); err != nil {
			res.Note = err.Error()
			return res
		}
		runbenchBins[i] = filepath.Join(dir, "runbench")
		cmd := exec.Command("go", "build", "-o", runbenchBins[i], "./cmd/runbench")
		cmd.Dir = bd
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
			out, err = goTest(benchDirs[i], "./stores", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", o.benchtime)
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
	for range 2 {
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

// checkout writes the tree of rev into dir.
func checkout(rootDir, rev, dir string) error {
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

// copyBench copies the bench module's sources (not its results) to dst, so
// that the same benchmarks build against another tree.
func copyBench(src, dst string) error {
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

// runChildBin runs a runbench binary built against another tree as a child.
func runChildBin(o options, bin string, v any, args ...string) error {
	return runChildExe(o, bin, v, args...)
}
