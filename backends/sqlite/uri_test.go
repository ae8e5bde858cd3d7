package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// TestURI opens the backend through package livedict, which reaches this
// package by the sqlite scheme alone.
func TestURI(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.ToSlash(filepath.Join(dir, "abs file.db"))
	tests := []struct {
		uri, file string
		poll      time.Duration
	}{
		{"sqlite://" + strings.ReplaceAll(abs, " ", "%20"), abs, 250 * time.Millisecond},
		{"sqlite://rel.db", filepath.Join(dir, "rel.db"), 250 * time.Millisecond},
		{"sqlite://sub/rel.db", filepath.Join(dir, "sub", "rel.db"), 250 * time.Millisecond},
		{"sqlite://opts.db?durability=full&busy_timeout=2s&poll_interval=100ms&readers=2", filepath.Join(dir, "opts.db"), 100 * time.Millisecond},
		{"sqlite://normal.db?durability=NORMAL", filepath.Join(dir, "normal.db"), 250 * time.Millisecond},
	}
	for _, tt := range tests {
		b, err := livedict.OpenURI(bg, tt.uri)
		if err != nil {
			t.Fatalf("OpenURI(%q): %v", tt.uri, err)
		}
		if got := b.PollInterval(); got != tt.poll {
			t.Errorf("OpenURI(%q).PollInterval() = %v, want %v", tt.uri, got, tt.poll)
		}
		b.Close()
		if _, err := os.Stat(tt.file); err != nil {
			t.Errorf("OpenURI(%q) did not create %s: %v", tt.uri, tt.file, err)
		}
	}

	bad := map[string]string{
		"sqlite://":                                 "no file name",
		"sqlite:///":                                "no file name",
		"sqlite:///tmp/dir/":                        "no file name",
		"sqlite:rel.db":                             "want sqlite:///absolute",
		"sqlite://user@x.db":                        "want sqlite:///absolute",
		"sqlite:///x.db#frag":                       "want sqlite:///absolute",
		"sqlite:///x.db?durability=maybe":           "want normal or full",
		"sqlite:///x.db?poll_interval=soon":         "poll_interval",
		"sqlite:///x.db?busy_timeout=0s":            "WithBusyTimeout",
		"sqlite:///x.db?readers=0":                  "WithReaders",
		"sqlite:///x.db?readers=two":                "not an integer",
		"sqlite:///x.db?cache=shared":               `unknown parameter "cache"`,
		"sqlite:///x.db?readers=1&readers=2":        "given 2 times",
		"sqlite:///x.db?_journal_mode=DELETE&x=%zz": "query",
	}
	for uri, want := range bad {
		b, err := livedict.OpenURI(bg, uri)
		if err == nil {
			b.Close()
			t.Errorf("OpenURI(%q) opened", uri)
			continue
		}
		if !errors.Is(err, livedict.ErrInvalidOption) || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenURI(%q) = %v; want ErrInvalidOption mentioning %q", uri, err, want)
		}
	}

	// A store that names its backend by URI owns it and closes it.
	s, err := engine.New(conformance.ItemCodec(), livedict.WithURI("sqlite://store.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(bg, "k", conformance.Item{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = engine.New(conformance.ItemCodec(), livedict.WithURI("sqlite://store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok, err := s.Get(bg, "k"); err != nil || !ok || v.Name != "v" {
		t.Fatalf("Get after reopening by URI = %+v, %v, %v", v, ok, err)
	}
}
