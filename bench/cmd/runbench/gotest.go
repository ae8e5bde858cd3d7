package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchRow is one line of go test -bench output.
type benchRow struct {
	Name    string             // without the Benchmark prefix and the -GOMAXPROCS suffix
	N       int64              // iterations
	Metrics map[string]float64 // unit -> value: ns/op, B/op, allocs/op, custom ones
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+)\s+(\d+)\s+(.+)$`)
var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads the benchmark lines of go test output; other lines are
// ignored.
func parseBench(out []byte) []benchRow {
	var rows []benchRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			continue
		}
		r := benchRow{Name: procSuffix.ReplaceAllString(m[1], ""), N: n, Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r.Metrics[f[i+1]] = v
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// medianRows merges the rows of several rounds: each metric becomes the
// median of its values, and the order is that of the first round.
func medianRows(rounds [][]benchRow) []benchRow {
	byName := map[string][]benchRow{}
	var order []string
	for _, round := range rounds {
		for _, r := range round {
			if _, ok := byName[r.Name]; !ok {
				order = append(order, r.Name)
			}
			byName[r.Name] = append(byName[r.Name], r)
		}
	}
	var out []benchRow
	for _, name := range order {
		rs := byName[name]
		m := benchRow{Name: name, N: rs[0].N, Metrics: map[string]float64{}}
		for unit := range rs[0].Metrics {
			var vs []float64
			for _, r := range rs {
				if v, ok := r.Metrics[unit]; ok {
					vs = append(vs, v)
				}
			}
			m.Metrics[unit] = median(vs)
		}
		// The spread of ns/op across rounds tells how steady the machine was.
		var ns []float64
		for _, r := range rs {
			ns = append(ns, r.Metrics["ns/op"])
		}
		if len(ns) > 1 {
			m.Metrics["min-ns/op"] = slices.Min(ns)
			m.Metrics["max-ns/op"] = slices.Max(ns)
		}
		out = append(out, m)
	}
	return out
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// compileTest builds the test binary of pkg (run in dir) into tmp.
func compileTest(dir, pkg, tmp string) (string, error) { return compileTestEnv(dir, nil, pkg, tmp) }

// compileTestEnv is compileTest in the environment env (nil: this one's).
func compileTestEnv(dir string, env []string, pkg, tmp string) (string, error) {
	bin := filepath.Join(tmp, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// runTestBinary runs a compiled test binary with args in dir and returns
// its output; progress lines are echoed to stderr.
func runTestBinary(dir, bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	return runEcho(cmd)
}

// goTest runs go test with args in dir.
func goTest(dir string, args ...string) ([]byte, error) { return goTestEnv(dir, nil, args...) }

// goTestEnv is goTest in the environment env (nil: this one's).
func goTestEnv(dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"test"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	return runEcho(cmd)
}

func runEcho(cmd *exec.Cmd) ([]byte, error) {
	e := &echoBench{}
	// One writer for both streams: exec then copies them on one goroutine,
	// and their lines do not interleave mid-line.
	cmd.Stdout, cmd.Stderr = e, e
	err := cmd.Run()
	return e.all.Bytes(), err
}

// echoBench keeps everything and shows benchmark lines as they come, so a
// long run is visibly alive.
type echoBench struct {
	all  bytes.Buffer
	line []byte
}

func (e *echoBench) Write(p []byte) (int, error) {
	e.all.Write(p)
	for _, c := range p {
		if c == '\n' {
			if bytes.HasPrefix(e.line, []byte("Benchmark")) {
				fmt.Fprintf(os.Stderr, "  %s\n", e.line)
			}
			e.line = e.line[:0]
			continue
		}
		e.line = append(e.line, c)
	}
	return len(p), nil
}
