package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestDemo runs the walkthrough on the memory backend and checks what it
// shows actually happened.
func TestDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, "memory://"); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
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
