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
	"strconv"
	"strings"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
)

type options struct {
	quick bool
	only  map[string]bool
	out   string
	// rounds and benchtime of the benchmarks run as whole runs: the
	// serializer's matrix, and what the changes section measures.
	rounds    int
	benchtime string
	// rotRounds and rotSlice are the rounds and slice length of the
	// throughput rotations; pairRounds the rounds of the rotated
	// benchmarks (-benchtime Nx): batches, loading, serializer and the root
	// module's BenchmarkRotated.
	rotRounds  int
	rotSlice   time.Duration
	pairRounds int
	// rootBenchtime is the -benchtime of the root module's other
	// SQLite and Redis benchmarks.
	rootBenchtime string
	expiryKeys    int
	spread        time.Duration
	// expiryRuns is how many times the expiry workload runs for livedict
	// and otter, the two its targets compare, alternately: one run's tail
	// swings several-fold with the machine's load.
	expiryRuns  int
	memoryKeys  int
	childTimout time.Duration
}

var sections = []string{"throughput", "expiry", "memory", "serializer", "backends", "batches", "loading", "generator", "changes"}

func main() {
	child := flag.String("child", "", "internal: run one workload (expiry, memory) in this process and print JSON")
	cache := flag.String("cache", "", "internal: the cache of a child workload")
	keys := flag.Int("keys", 1_000_000, "keys of the expiry and memory workloads")
	spread := flag.Duration("spread", 5*time.Second, "the expiry workload's deadlines fall due over this long")
	quick := flag.Bool("quick", false, "a short run to try the command: few rounds, short benchtimes, 100,000 keys")
	rotRounds := flag.Int("rotate.rounds", 0, "rounds of the throughput rotations (default 20, -quick 4)")
	rotSlice := flag.Duration("rotate.slice", 0, "slice of one cache in a round of the throughput rotations (default 100ms, -quick 40ms)")
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
		runAll(*quick, *only, *out, *keys, *spread, *rotRounds, *rotSlice)
	default:
		fatalf("unknown -child %q", *child)
	}
}

func runAll(quick bool, only, out string, keys int, spread time.Duration, rotRounds int, rotSlice time.Duration) {
	o := options{quick: quick, out: out, rounds: 3, benchtime: "500ms",
		rotRounds: 20, rotSlice: 100 * time.Millisecond, pairRounds: 40, rootBenchtime: "1s",
		expiryKeys: keys, spread: spread, expiryRuns: 3, memoryKeys: keys, childTimout: 3 * time.Minute}
	if o.quick {
		o.rounds, o.benchtime, o.expiryKeys, o.memoryKeys, o.spread = 1, "100ms", 100_000, 100_000, 2*time.Second
		o.expiryRuns = 1
		o.rotRounds, o.rotSlice, o.pairRounds, o.rootBenchtime = 4, 40*time.Millisecond, 10, "100ms"
	}
	if rotRounds > 0 {
		o.rotRounds = rotRounds
	}
	if rotSlice > 0 {
		o.rotSlice = rotSlice
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
	Env     environment
	Options options
	// Throughput holds the rotations of the throughput section: rotGrant,
	// rotSession, rotCopies.
	Throughput     map[string]*rotation
	ThroughputNote string // why a rotation is missing
	Serializer     []benchRow
	// SerialRotated is the serializer's rotated comparison with msgp.
	SerialRotated *pkgRun
	Expiry        []expiryResult
	Memory        []memoryResult
	// Backends holds the root module's SQLite and Redis benchmarks, by
	// package; RootRotated their BenchmarkRotated, where there is one.
	Backends    []pkgRun
	RootRotated map[string]*pkgRun
	Batches     *pkgRun
	Loading     *pkgRun
	LoadAcross  []processLoad
	Generator   *pkgRun
	Changes     []changeResult
	Wall        time.Duration
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

	r := &results{Env: readEnvironment(), Options: o, Throughput: map[string]*rotation{}, RootRotated: map[string]*pkgRun{}}
	if o.wants("throughput") {
		// A rotation that fails leaves a note; the others and the other
		// sections still run.
		if err := throughput(o, benchDir, tmp, r); err != nil {
			r.ThroughputNote = err.Error()
			logf("throughput: %v", err)
		}
	}
	if o.wants("expiry") {
		runs := map[string][]expiryResult{}
		var names []string
		for run := range o.expiryRuns {
			for _, s := range caches.All(caches.OpenGrant, false) {
				if !s.Expires || run > 0 && !repeatsExpiry(s.Name) {
					continue
				}
				if run == 0 {
					names = append(names, s.Name)
				}
				logf("expiry: %s, %d keys (run %d)", s.Name, o.expiryKeys, run+1)
				var res expiryResult
				if err := runChild(o, &res, "-child=expiry", "-cache="+s.Name,
					fmt.Sprintf("-keys=%d", o.expiryKeys), "-spread="+o.spread.String()); err != nil {
					res = expiryResult{Cache: s.Name, Error: err.Error()}
				}
				runs[s.Name] = append(runs[s.Name], res)
			}
		}
		for _, name := range names {
			r.Expiry = append(r.Expiry, medianRun(runs[name]))
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
			// BenchmarkRotated, and BenchmarkTouch whose last row is a
			// rotation, run a fixed number of rounds; the others for a time.
			r.Backends = append(r.Backends, rootBench(rootDir, pkg, "-run", "^$", "-bench", ".", "-skip", "^Benchmark(Rotated|Touch)$",
				"-benchtime", o.rootBenchtime, "-benchmem"))
			if hasBenchmark(filepath.Join(rootDir, pkg), "Rotated") || hasBenchmark(filepath.Join(rootDir, pkg), "Touch") {
				rot := rootBench(rootDir, pkg, "-run", "^$", "-bench", "^Benchmark(Rotated|Touch)$", "-benchtime", fmt.Sprintf("%dx", o.pairRounds))
				r.RootRotated[rot.Pkg] = &rot
			}
		}
	}
	if o.wants("batches") {
		b := benchPkg(benchDir, "./batch", "-run", "^$", "-bench", ".", "-benchtime", fmt.Sprintf("%dx", o.pairRounds))
		r.Batches = &b
	}
	if o.wants("loading") {
		l := benchPkg(benchDir, "./loading", "-run", "^$", "-bench", ".", "-benchtime", fmt.Sprintf("%dx", o.pairRounds))
		r.Loading = &l
		for _, pkg := range []string{"./backends/sqlite", "./backends/redis"} {
			r.LoadAcross = append(r.LoadAcross, loadAcross(rootDir, pkg))
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

func serializer(o options, benchDir, tmp string, r *results) error {
	bin, err := compileTest(benchDir, "./serial", tmp)
	if err != nil {
		return err
	}
	var rounds [][]benchRow
	for i := range o.rounds {
		logf("serializer: round %d of %d", i+1, o.rounds)
		out, err := runTestBinary(filepath.Join(benchDir, "serial"), bin,
			"-test.run", "^$", "-test.bench", "^Benchmark(Encode|Decode)$", "-test.benchmem", "-test.benchtime", o.benchtime)
		if err != nil {
			return fmt.Errorf("serializer benchmarks: %v\n%s", err, out)
		}
		rounds = append(rounds, parseBench(out))
	}
	r.Serializer = medianRows(rounds)
	logf("serializer: rotated against msgp, %d rounds", o.pairRounds)
	args := []string{"-test.run", "^$", "-test.bench", "^BenchmarkRotated$", "-test.benchtime", fmt.Sprintf("%dx", o.pairRounds)}
	out, err := runTestBinary(filepath.Join(benchDir, "serial"), bin, args...)
	rot := pkgRun{Pkg: "serial", Command: "go test ./serial -run '^$' -bench '^BenchmarkRotated$' -benchtime " + args[5], Rows: parseBench(out)}
	if err != nil {
		rot.Note = fmt.Sprintf("the rotation failed (%v)", err)
	}
	r.SerialRotated = &rot
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

// hasBenchmark says a test file of dir declares BenchmarkNAME.
func hasBenchmark(dir, name string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\nfunc Benchmark"+name+"(")) {
			return true
		}
	}
	return false
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

// processLoad is the root module's test of a miss storm across processes
// on one backend: how many loads each process ran.
type processLoad struct {
	Pkg     string
	Command string
	Line    string // the test's own summary, or why there is none
	Loads   int    // -1 when the test did not say
}

// loadAcross runs pkg's TestProcessesLoadOnce (4 processes x 250
// goroutines missing one key) and reads the loads per process it logs.
func loadAcross(rootDir, pkg string) processLoad {
	args := []string{pkg, "-run", "^TestProcessesLoadOnce$", "-count", "1", "-v"}
	res := processLoad{Pkg: strings.TrimPrefix(pkg, "./"), Command: "go test " + strings.Join(quoteArgs(args), " "), Loads: -1}
	logf("%s", res.Command)
	out, err := goTest(rootDir, args...)
	for _, line := range strings.Split(string(out), "\n") {
		_, summary, ok := strings.Cut(line, "goroutines missing one key: loads per process ")
		if !ok {
			continue
		}
		res.Line = strings.TrimSpace(line[strings.Index(line, ": ")+2:])
		res.Loads = 0
		for _, f := range strings.Fields(strings.Trim(strings.TrimSpace(summary), "[]")) {
			n, perr := strconv.Atoi(f)
			if perr != nil {
				res.Loads = -1
				break
			}
			res.Loads += n
		}
	}
	if err != nil || res.Loads < 0 {
		res.Line = fmt.Sprintf("the test failed or said nothing (%v): %s", err, oneLine(lastLines(out, 3)))
	}
	return res
}
