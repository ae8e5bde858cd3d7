package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/livedict/livedict/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the walkthrough on every backend and checks what it shows
// actually happened.
func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		name string
		uri  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "memory://" }},
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "demo.db"))
		}},
		{"redis", func(t *testing.T) string { url, _ := redistest.Server(t); return url }},
	} {
		t.Run(tc.name, func(t *testing.T) { testDemo(t, tc.uri(t)) })
	}
}

func testDemo(t *testing.T, uri string) {
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
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "OnSet    tok-carol") {
		t.Error("the disabled OnSet hook still ran")
	}
}
