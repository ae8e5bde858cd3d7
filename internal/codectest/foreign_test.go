package codectest

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"
	_ "github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/internal/redistest"
)

// TestForeignRoundTrip: structs of other packages, structs embedding a
// type whose marshaler they would otherwise inherit, and instantiated
// generics come back whole from every backend. Before structs embedding a
// marshaler were stored field by field, Stamp.By came back empty.
func TestForeignRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	want := Foreign{
		Edits: []Stamp{{Time: at, By: "ann"}, {Time: at.Add(time.Hour), By: "bob"}},
		Last:  &Stamp{Time: at, By: "cy"},
		Net:   Tagged{IPNet: net.IPNet{IP: net.IPv4(10, 1, 2, 0).To4(), Mask: net.CIDRMask(24, 32)}, Label: "office"},
		Cookie: &http.Cookie{Name: "sid", Value: "v", Path: "/", Expires: at, MaxAge: 60, Secure: true,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Unparsed: []string{"x=y"}},
		Note:    sql.NullString{String: "n", Valid: true},
		Maybe:   sql.Null[int64]{V: 42, Valid: true},
		Top:     GPair[string, []int]{Key: "k", Val: []int{1, 2, 3}},
		Cookies: []http.Cookie{{Name: "a"}, {Name: "b", Value: "c"}},
	}
	backends := map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "memory://" },
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "f.db")) },
		"redis": func(t *testing.T) string {
			url, _ := redistest.Server(t)
			return url
		},
	}
	for name, uri := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := NewForeignStore(livedict.WithURI(uri(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Set(ctx, "k", want); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, "k")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("round trip on %s (-want +got):\n%s", name, d)
			}
			// What Get returned is a copy: changing it changes nothing stored.
			got.Edits[0].By, got.Top.Val[0], got.Cookie.Name = "changed", 9, "changed"
			again, _, _ := s.Get(ctx, "k")
			if d := cmp.Diff(want, again); d != "" {
				t.Errorf("a change to a value Get returned reached the store (-want +got):\n%s", d)
			}
		})
	}
}
