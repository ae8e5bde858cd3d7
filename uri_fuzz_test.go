package livedict

import (
	"errors"
	"testing"
)

// FuzzParseURI: any string given to WithURI either parses (and then names
// a known scheme) or fails with ErrInvalidOption; it never panics and never
// opens anything.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"memory://", "memory://x", "sqlite:///tmp/a.db", "sqlite://rel.db?durability=full&readers=2",
		"sqlite://a.db?readers=0", "sqlite://", "redis://127.0.0.1:6379/0", "redis://h:1?addr=h2:2&addr=h3:3",
		"redis://u:p@h:1/0?prefix=a&shards=4&poll_interval=10ms&reclaim_after=0s", "redis://h:1/0?shards=x",
		"rediss://h/99", "redis://h:1/0?prefix={", "::", "%", "nosuch://", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		open, err := parseURI(uri)
		if err != nil {
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("parseURI(%q) = %v, not an ErrInvalidOption", uri, err)
			}
			return
		}
		if open == nil {
			t.Fatalf("parseURI(%q) gave neither an opener nor an error", uri)
		}
	})
}
