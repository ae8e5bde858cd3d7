package codectest

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/netip"
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

// TestKeysOfOtherPackages: keys of another package's integer type, with
// MarshalText, and [N]byte arrays are stored and listed back as themselves
// on every backend.
func TestKeysOfOtherPackages(t *testing.T) {
	for name, uri := range map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "memory://" },
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "k.db")) },
		"redis": func(t *testing.T) string {
			url, _ := redistest.Server(t)
			return url
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := uri(t)
			addrs, err := NewByAddrStore(livedict.WithURI(u))
			if err != nil {
				t.Fatal(err)
			}
			defer addrs.Close()
			digests, err := NewByDigestStore(livedict.WithURI(u))
			if err != nil {
				t.Fatal(err)
			}
			defer digests.Close()
			months, err := NewByMonthStore(livedict.WithURI(u))
			if err != nil {
				t.Fatal(err)
			}
			defer months.Close()

			a := netip.MustParseAddr("2001:db8::1")
			d := Digest{0xde, 0xad, 0xbe, 0xef, 15: 0x01}
			check := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			check("Set addr", addrs.Set(ctx, a, ByAddr{N: 1, Net: netip.MustParsePrefix("2001:db8::/32")}))
			check("Set digest", digests.Set(ctx, d, ByDigest{N: 2}))
			check("Set month", months.Set(ctx, time.March, ByMonth{N: 3}))
			ak, err := addrs.Keys(ctx)
			check("Keys addr", err)
			dk, err := digests.Keys(ctx)
			check("Keys digest", err)
			mk, err := months.Keys(ctx)
			check("Keys month", err)
			if d := cmp.Diff([]netip.Addr{a}, ak, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); d != "" {
				t.Errorf("addr keys (-want +got):\n%s", d)
			}
			if !cmp.Equal([]Digest{d}, dk) || !cmp.Equal([]time.Month{time.March}, mk) {
				t.Errorf("keys: digests %x, months %v", dk, mk)
			}
			v, ok, err := addrs.Get(ctx, a)
			if err != nil || !ok || v.N != 1 || v.Net.String() != "2001:db8::/32" {
				t.Errorf("Get(%v) = %+v, %v, %v", a, v, ok, err)
			}
		})
	}
}
