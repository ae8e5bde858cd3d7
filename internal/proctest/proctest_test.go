package proctest_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict/internal/proctest"
)

const roleEnv = "PROCTEST_TEST_WORKER"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(work(role))
	}
	os.Exit(m.Run())
}

func work(role string) int {
	switch role {
	case "echo":
		// Says ready, waits for go, then says the value of its argument
		// and exits once stdin ends.
		proctest.Say("ready")
		proctest.AwaitGo()
		proctest.Say("arg=%s", os.Getenv("PROCTEST_TEST_ARG"))
		proctest.AwaitEOF()
		proctest.Say("bye")
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "failing on purpose")
		return 3
	case "count":
		// Prints lines until killed.
		for i := 0; ; i++ {
			proctest.Say("%d", i)
			time.Sleep(time.Millisecond)
		}
	}
	return 2
}

func TestConversation(t *testing.T) {
	p := proctest.Start(t, "echo", roleEnv+"=echo", "PROCTEST_TEST_ARG=42")
	p.Expect("ready")
	p.Send("go")
	p.Expect("arg=42")
	p.CloseStdin()
	p.Expect("bye")
	if l, ok := p.Line(time.Minute); ok {
		t.Fatalf("after bye: %q, want the end of the output", l)
	}
	p.Wait(time.Minute)
	if p.Killed() || p.Err() != nil {
		t.Fatalf("Killed = %v, Err = %v after a clean exit", p.Killed(), p.Err())
	}
}

func TestExitStatusAndStderr(t *testing.T) {
	p := proctest.Start(t, "fail", roleEnv+"=fail")
	<-p.Done()
	if p.Err() == nil || p.Killed() {
		t.Fatalf("Err = %v, Killed = %v; want exit status 3", p.Err(), p.Killed())
	}
	if !strings.Contains(p.Stderr(), "failing on purpose") {
		t.Fatalf("Stderr = %q", p.Stderr())
	}
}

// TestKill: the lines a worker printed before SIGKILL are all readable, in
// order, and then the output ends.
func TestKill(t *testing.T) {
	p := proctest.Start(t, "count", roleEnv+"=count")
	p.Expect("0")
	p.Expect("1")
	p.Kill()
	next := 2
	for l := range p.Lines() {
		if l != fmt.Sprint(next) {
			t.Fatalf("line %q after a kill, want %d", l, next)
		}
		next++
	}
	<-p.Done()
	if !p.Killed() {
		t.Fatalf("Killed = false, Err = %v", p.Err())
	}
}

// TestCleanupKills: a worker still running when its test ends is killed
// and waited for, even with its output unread.
func TestCleanupKills(t *testing.T) {
	var p *proctest.Proc
	t.Run("inner", func(t *testing.T) {
		p = proctest.Start(t, "count", roleEnv+"=count")
		p.Expect("0")
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("the worker was not waited for when its test ended")
	}
	if !p.Killed() {
		t.Fatalf("the worker ended with %v, not by SIGKILL", p.Err())
	}
}

func TestCount(t *testing.T) {
	const name = "PROCTEST_TEST_COUNT"
	want := 7
	if testing.Short() {
		want = 3
	}
	t.Setenv(name, "")
	if n := proctest.Count(t, name, 7, 3); n != want {
		t.Fatalf("Count without the variable = %d, want %d", n, want)
	}
	t.Setenv(name, "25")
	if n := proctest.Count(t, name, 7, 3); n != 25 {
		t.Fatalf("Count with %s=25 = %d", name, n)
	}
}
