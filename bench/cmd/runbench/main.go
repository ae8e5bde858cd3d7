// Command runbench runs every benchmark of the bench module, and those of
// the root module that compare the store with plain database/sql and plain
// go-redis, then writes RESULTS.md and the SVG charts under charts/:
//
//	cd bench && go run ./cmd/runbench
//
// The expiry and memory workloads run in child processes of this command,
// one per cache, so that one cache's heap, goroutines and CPU time never
// count against another's.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
)

type options struct {
	quick  bool
	only   map[string]bool
	out    string
	rounds int
	// benchtime of the throughput and serializer benchmarks.
	benchtime   string
	expiryKeys  int
	spread      time.Duration
	memoryKeys  int
	childTimout time.Duration
}

var sections = []string{"throughput", "expiry", "memory", "serializer", "backends", "generator", "changes"}

func main() {
	child := flag.String("child", "", "internal: run one workload (expiry, memory) in this process and print JSON")
	cache := flag.String("cache", "", "internal: the cache of a child workload")
	keys := flag.Int("keys", 1_000_000, "keys of the expiry and memory workloads")
	spread := flag.Duration("spread", 5*time.Second, "the expiry workload's deadlines fall due over this long")
	quick := flag.Bool("quick", false, "a short run to try the command: one round, short benchtimes, 100,000 keys")
	only := flag.String("only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); default all")
	out := flag.String("out", ".", "directory for RESULTS.md and charts/")
	cpuprofile := flag.String("cpuprofile", "", "with -child: write a CPU profile of the workload to this file")
	flag.Parse()

	if *child != "" && *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatalf("%v", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	switch *child {
	case "expiry":
		emit(runExpiry(*cache, *keys, *spread))
	case "memory":
		emit(runMemory(*cache, *keys))
	case "":
		runAll(*quick, *only, *out, *keys, *spread)
	default:
		fatalf("unknown -child %q", *child)
	}
}

func runAll(quick bool, only, out string, keys int, spread time.Duration) {

	o := options{quick: quick, out: out, rounds: 3, benchtime: "500ms",
		expiryKeys: keys, spread: spread, memoryKeys: keys, childTimout: 3 * time.Minute}
	if o.quick {
		o.rounds, o.benchtime, o.expiryKeys, o.memoryKeys, o.spread = 1, "100ms", 100_000, 100_000, 2*time.Second
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.only[s] = true
		}
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runbench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (o options) wants(section string) bool { return len(o.only) == 0 || o.only[section] }

// results is everything one run measured.
type results struct {
	Env        environment
	Options    options
	Throughput map[string][]benchRow // by value type: Session, Grant
	Serializer []benchRow
	Expiry     []expiryResult
	Memory     []memoryResult
	Backends   []pkgRun
	Generator  *pkgRun
	Changes    []changeResult
	Wall       time.Duration
}

// pkgRun is the outcome of go test -bench on one package of the root module.
type pkgRun struct {
	Pkg     string
	Command string
	Rows    []benchRow
	Note    string // why there are no rows, when there are none
}

func run(o options) error {
	start := time.Now()
	benchDir, err := findBenchDir()
	if err != nil {
		return err
	}
	rootDir := filepath.Dir(benchDir)
	tmp, err := os.MkdirTemp("", "runbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	r := &results{Env: readEnvironment(), Options: o, Throughput: map[string][]benchRow{}}
	if o.wants("throughput") {
		if err := throughput(o, benchDir, tmp, r); err != nil {
			return err
		}
	}
	if o.wants("expiry") {
		for _, s := range caches.All(caches.OpenGrant, false) {
			if !s.Expires {
				continue
			}
			logf("expiry: %s, %d keys", s.Name, o.expiryKeys)
			var res expiryResult
			if err := runChild(o, &res, "-child=expiry", "-cache="+s.Name,
				fmt.Sprintf("-keys=%d", o.expiryKeys), "-spread="+o.spread.String()); err != nil {
				res = expiryResult{Cache: s.Name, Error: err.Error()}
			}
			r.Expiry = append(r.Expiry, res)
		}
	}
	if o.wants("memory") {
		for _, s := range caches.All(caches.OpenGrant, false) {
			logf("memory: %s, %d keys", s.Name, o.memoryKeys)
			var res memoryResult
			if err := runChild(o, &res, "-child=memory", "-cache="+s.Name, fmt.Sprintf("-keys=%d", o.memoryKeys)); err != nil {
				res = memoryResult{Cache: s.Name, Error: err.Error()}
			}
			r.Memory = append(r.Memory, res)
		}
	}
	if o.wants("serializer") {
		if err := serializer(o, benchDir, tmp, r); err != nil {
			return err
		}
	}
	if o.wants("backends") {
		for _, pkg := range []string{"./backends/sqlite", "./backends/redis"} {
			r.Backends = append(r.Backends, rootBench(rootDir, pkg, "-run", "^$", "-bench", ".", "-benchmem"))
		}
	}
	if o.wants("generator") {
		g := rootBench(rootDir, "./internal/gen", "-run", "^$", "-bench", "Generate100", "-benchtime", "3x", "-benchmem")
		r.Generator = &g
	}
	if o.wants("changes") {
		r.Changes = measureChanges(o, rootDir, benchDir, tmp)
	}
	r.Env.LoadEnd = loadAverage()
	r.Wall = time.Since(start)
	return writeReport(o.out, r)
}

func throughput(o options, benchDir, tmp string, r *results) error {
	bin, err := compileTest(benchDir, "./throughput", tmp)
	if err != nil {
		return err
	}
	// Rounds run the whole matrix again rather than one case several times
	// in a row, so that a burst of load elsewhere on the machine lands on
	// one round of many cases rather than on every round of one case.
	var rounds [][]benchRow
	for i := range o.rounds {
		logf("throughput: round %d of %d", i+1, o.rounds)
		out, err := runTestBinary(filepath.Join(benchDir, "throughput"), bin,
			"-test.run", "^$", "-test.bench", ".", "-test.benchtime", o.benchtime, "-test.timeout", "30m")
		if err != nil {
			return fmt.Errorf("throughput benchmarks: %v\n%s", err, out)
		}
		rounds = append(rounds, parseBench(out))
	}
	for _, row := range medianRows(rounds) {
		typ, rest, _ := strings.Cut(row.Name, "/")
		row.Name = rest
		r.Throughput[typ] = append(r.Throughput[typ], row)
	}
	return nil
}

func serializer(o options, benchDir, tmp string, r *results) error {
	bin, err := compileTest(benchDir, "./serial", tmp)
	if err != nil {
		return err
	}
	var rounds [][]benchRow
	for i := range o.rounds {
		logf("serializer: round %d of %d", i+1, o.rounds)
		out, err := runTestBinary(filepath.Join(benchDir, "serial"), bin,
			"-test.run", "^$", "-test.bench", ".", "-test.benchmem", "-test.benchtime", o.benchtime)
		if err != nil {
			return fmt.Errorf("serializer benchmarks: %v\n%s", err, out)
		}
		rounds = append(rounds, parseBench(out))
	}
	r.Serializer = medianRows(rounds)
	return nil
}

// rootBench runs go test on a package of the root module. A package without
// benchmarks, or one that does not build (it may be mid-change), gives a
// note instead of rows, and the run goes on.
func rootBench(rootDir, pkg string, args ...string) pkgRun {
	args = append([]string{pkg}, args...)
	res := pkgRun{Pkg: strings.TrimPrefix(pkg, "./"), Command: "go test " + strings.Join(quoteArgs(args), " ")}
	if !hasBenchmarks(filepath.Join(rootDir, pkg)) {
		res.Note = "the package has no benchmarks yet"
		logf("%s: no benchmarks", pkg)
		return res
	}
	logf("%s", res.Command)
	out, err := goTest(rootDir, args...)
	res.Rows = parseBench(out)
	if err != nil {
		res.Note = fmt.Sprintf("go test failed (%v); %d benchmark lines were kept", err, len(res.Rows))
		logf("%s: %v\n%s", pkg, err, lastLines(out, 15))
	}
	return res
}

func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$*") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return q
}

func hasBenchmarks(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\nfunc Benchmark")) {
			return true
		}
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runChild runs this command again with args and decodes the JSON it prints.
func runChild(o options, v any, args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return runChildExe(o, exe, v, args...)
}

func runChildExe(o options, exe string, v any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.childTimout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, lastLines(stderr.Bytes(), 5))
	}
	return json.Unmarshal(stdout.Bytes(), v)
}

// findBenchDir returns the directory of the bench module, from the working
// directory or one of its parents.
func findBenchDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/livedict/livedict/bench\n")) {
			return dir, nil
		}
		if sub := filepath.Join(dir, "bench"); dir != sub {
			if b, err := os.ReadFile(filepath.Join(sub, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/livedict/livedict/bench\n")) {
				return sub, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from the bench directory: no bench module above the working directory")
		}
		dir = parent
	}
}
