package livedict_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/livedict/livedict"
)

func TestOpenURI(t *testing.T) {
	tests := []struct {
		uri  string
		want string // "" means it opens
	}{
		{"memory://", ""},
		{"memory:///", ""},
		{"memory://host", "takes nothing"},
		{"nosuch://x", `unknown scheme "nosuch"; registered: memory://`},
		// The backends are not imported by this test: their schemes say how
		// to get them.
		{"sqlite:///tmp/x.db", `add import _ "github.com/livedict/livedict/backends/sqlite"`},
		{"redis://127.0.0.1:6379/0", `add import _ "github.com/livedict/livedict/backends/redis"`},
		{"rediss://127.0.0.1:6379/0", `add import _ "github.com/livedict/livedict/backends/redis"`},
		{"/just/a/path", "no scheme"},
		{"::bad", "missing protocol scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			b, err := livedict.OpenURI(context.Background(), tt.uri)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				b.Close()
				return
			}
			if !errors.Is(err, livedict.ErrInvalidOption) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenURI(%q) = %v; want ErrInvalidOption mentioning %q", tt.uri, err, tt.want)
			}
		})
	}
}
