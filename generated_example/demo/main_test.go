package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/livedict/livedict/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the walkthrough on every backend and checks what it shows
// actually happened. On SQLite and Redis it runs twice on the same file or
// server, as a user running the demo again would, and the second run must
// print what the first did: nothing the first left behind (keys, expiry
// events nobody listened to) shows in it.
func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		name string
		uri  func(t *testing.T) string
		runs int
	}{
		{"memory", func(*testing.T) string { return "memory://" }, 1},
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "demo.db"))
		}, 2},
		{"redis", func(t *testing.T) string { url, _ := redistest.Server(t); return url }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri := tc.uri(t)
			var first string
			for i := range tc.runs {
				out := testDemo(t, uri)
				if i == 0 {
					first = out
				} else if d := cmp.Diff(first, out); d != "" {
					t.Errorf("run %d on the same %s printed other lines than the first (-first +this):\n%s", i+1, tc.name, d)
				}
			}
		})
	}
}

// timing matches what the demo prints that depends on timing alone: how
// long the Sets took, and how many calls of the panicking and the slow hook
// ran before their breakers tripped (calls already queued then may run or
// be skipped).
var timing = regexp.MustCompile(`took \S+|\d+ timeouts|\d+ panics`)

// testDemo runs the demo once on uri, checks its output and returns it
// with the timing masked.
func testDemo(t *testing.T, uri string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), &out, uri); err != nil {
		t.Fatalf("demo on %s failed: %v\n%s", uri, err, out.String())
	}
	for _, want := range []string{
		"get tok-alice: found=true user=alice roles=[admin] name=Alice",
		`values are copies: stored role is still "admin"`,
		"delete: removed=true, still there=false",
		"expired: tok-bob of bob",
		"get after expiry: found=false",
		"expired: tok-carol of carol",
		"OnExpire removed: dave expired silently",
		"error handler saw the panic=true, the breaker=true",
		"counter 7 = 200",
		"Len=5; order 4 has 5 books",
		"only the scoped key fires: order 42 of a VIP",
		"50 concurrent misses, 1 load; order 7 of loaded",
		"read every 100ms for 600ms: still there=true",
		"then no reads: expired after its idle time: tok-erin of erin",
		"Expire gives a key a new deadline without rewriting it: true, 1h0m0s left",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "OnSet    tok-carol") {
		t.Error("the disabled OnSet hook still ran")
	}
	return timing.ReplaceAllString(out.String(), "(timing)")
}
