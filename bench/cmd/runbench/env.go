package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

type environment struct {
	CPU        string
	Cores      int
	GOMAXPROCS int
	OS, Arch   string
	GoVersion  string
	Date       time.Time
	LoadStart  string // /proc/loadavg: other work on the machine skews every number
	LoadEnd    string
	// Commit is the root module's commit, and Changed its files that differ
	// from it: the bench module builds against the working tree.
	Commit  string
	Changed []string
}

func readEnvironment() environment {
	e := environment{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GoVersion:  runtime.Version(),
		Date:       time.Now().UTC(),
		LoadStart:  loadAverage(),
	}
	e.Commit, e.Changed = treeState()
	// The toolchain that builds the benchmarks is the one that matters.
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		e.GoVersion = strings.TrimSpace(string(out))
	}
	return e
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// treeState returns the commit the repository is at and the files outside
// bench/ that differ from it; both empty outside a git checkout.
func treeState() (string, []string) {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", nil
	}
	commit := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "status", "--porcelain", "--", ":/", ":!/bench").Output()
	if err != nil {
		return commit, nil
	}
	var changed []string
	for _, line := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") {
		if len(line) > 3 {
			changed = append(changed, strings.TrimSpace(line[3:]))
		}
	}
	return commit, changed
}
