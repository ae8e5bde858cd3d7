package runtime

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // named zones load even where the system has no zoneinfo

	"github.com/livedict/livedict/backend"
)

// roundTripTime encodes tm with AppendTime and reads it back.
func roundTripTime(t *testing.T, tm time.Time) (time.Time, []byte) {
	t.Helper()
	var e Encoder
	e.AppendTime(tm)
	if e.Err() != nil {
		t.Fatalf("AppendTime(%v): %v", tm, e.Err())
	}
	d := decoderOf(e.buf)
	got := d.ReadTime()
	if d.Err() != nil || d.pos != len(e.buf) {
		t.Fatalf("ReadTime(%v): %v, read %d of %d bytes", tm, d.Err(), d.pos, len(e.buf))
	}
	return got, e.buf
}

func sameZone(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return an == bn && ao == bo && a.Location().String() == b.Location().String()
}

// TestTimeZoneForm: every kind of Location keeps its instant and its
// Location, and the monotonic reading is dropped.
func TestTimeZoneForm(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tm   time.Time
		kind byte
	}{
		{"zero", time.Time{}, timeUTC},
		{"utc", time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), timeUTC},
		{"local", time.Date(2025, 7, 2, 3, 4, 5, 6, time.Local), timeLocal},
		{"monotonic", time.Now(), timeLocal},
		{"monotonic utc", time.Now().UTC(), timeUTC},
		{"named winter", time.Date(2025, 1, 2, 3, 4, 5, 6, paris), timeNamed},
		{"named summer", time.Date(2025, 7, 2, 3, 4, 5, 6, paris), timeNamed},
		{"named lmt", time.Date(1850, 7, 2, 3, 4, 5, 6, paris), timeNamed},
		{"fixed", time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("EST", -5*3600)), timeFixed},
		{"fixed named like a zone", time.Date(2025, 1, 2, 0, 0, 0, 0, time.FixedZone("Europe/Paris", 3600)), timeFixed},
		{"fixed utc name", time.Date(2025, 1, 2, 0, 0, 0, 0, time.FixedZone("UTC", 0)), timeFixed},
		{"fixed unnamed", time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("", -123)), timeFixed},
		{"minus one minute", time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("", -60)), timeFixed},
		{"negative seconds", time.Date(1850, 6, 1, 0, 0, 0, 0, time.FixedZone("LMT", -(4*3600+56*60+2))), timeFixed},
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 1, time.FixedZone("X", -11*3600)), timeFixed},
		{"far future", time.Date(292277026596, 12, 4, 15, 30, 7, 999999999, time.UTC), timeUTC},
		{"far past", time.Unix(-1<<63, 0).UTC(), timeUTC},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, buf := roundTripTime(t, c.tm)
			if buf[1] != c.kind {
				t.Errorf("kind %#x, want %#x", buf[1], c.kind)
			}
			want := c.tm.Round(0)
			if !got.Equal(want) || !sameZone(got, want) {
				t.Fatalf("got %v (%s), want %v (%s)", got, got.Location(), want, want.Location())
			}
			if got != got.Round(0) {
				t.Error("the decoded time has a monotonic reading")
			}
			switch c.kind {
			case timeUTC, timeLocal:
				if got != want {
					t.Errorf("got %#v, want %#v (==)", got, want)
				}
			case timeNamed:
				if again, _ := roundTripTime(t, c.tm); again.Location() != got.Location() {
					t.Error("a named zone is loaded again on every decode")
				}
			}
		})
	}
}

// TestTimeZoneFallback: a zone the reader cannot load by its name reads
// back as a fixed zone of that name and offset, the instant kept.
func TestTimeZoneFallback(t *testing.T) {
	data, err := os.ReadFile("/usr/share/zoneinfo/Europe/Paris")
	if err != nil {
		t.Skip("no zoneinfo file to build a custom zone from:", err)
	}
	custom, err := time.LoadLocationFromTZData("Nowhere/Custom", data)
	if err != nil {
		t.Fatal(err)
	}
	tm := time.Date(2025, 7, 2, 3, 4, 5, 6, custom)
	got, buf := roundTripTime(t, tm)
	if buf[1] != timeNamed {
		t.Fatalf("kind %#x, want named", buf[1])
	}
	name, offset := got.Zone()
	if !got.Equal(tm) || name != "Nowhere/Custom" || offset != 2*3600 || got.Location().String() != "Nowhere/Custom" {
		t.Fatalf("got %v in %s (%s %d)", got, got.Location(), name, offset)
	}
	if start, end := got.ZoneBounds(); !start.IsZero() || !end.IsZero() {
		t.Error("the fallback is not a fixed zone")
	}
}

// TestTimeMarshalBinaryForm: records written before the zone form hold
// Time.MarshalBinary, and still decode as they did.
func TestTimeMarshalBinaryForm(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("", 5*3600+45*60)),
		time.Date(1850, 6, 1, 0, 0, 0, 0, time.FixedZone("LMT", 3600+17)),                // version 2
		time.Date(1850, 6, 1, 0, 0, 0, 0, time.FixedZone("LMT", -(4*3600+56*60+2))),      // UnmarshalBinary's bug
		time.Date(2025, 1, 2, 3, 4, 5, 6, time.Local).In(time.FixedZone("Somewhere", 0)), // offset kept, name not
	} {
		old, err := tm.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		data := append(binary.AppendUvarint(nil, uint64(len(old))), old...)
		d := decoderOf(data)
		got := d.ReadTime()
		if d.Err() != nil || d.pos != len(data) {
			t.Fatalf("%v: %v", tm, d.Err())
		}
		_, o1 := got.Zone()
		_, o2 := tm.Zone()
		if !got.Equal(tm) || o1 != o2 {
			t.Errorf("got %v, want %v", got, tm)
		}
		if tm.IsZero() && got != (time.Time{}) {
			t.Errorf("zero time read as %#v", got)
		}
	}
}

// TestTimeZoneFormCorrupt: every malformed zone form is refused with
// ErrCorrupt.
func TestTimeZoneFormCorrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"no seconds", []byte{1, timeUTC}, "truncated varint"},
		{"no nanoseconds", []byte{2, timeUTC, 0}, "truncated varint"},
		{"nanoseconds", []byte{7, timeUTC, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, "1000000000 nanoseconds"},
		{"trailing", []byte{4, timeLocal, 0, 0, 0}, "1 trailing bytes"},
		{"no offset", []byte{3, timeFixed, 0, 0}, "truncated varint"},
		{"no name", []byte{4, timeFixed, 0, 0, 0}, "truncated varint"},
		{"name too long", []byte{6, timeNamed, 0, 0, 0, 5, 'a'}, "zone name of 5 bytes runs past the end"},
		{"empty name", []byte{5, timeNamed, 0, 0, 0, 0}, "named zone without a name"},
		{"past the field", []byte{2, timeUTC, 0, 0}, "truncated varint"},
		{"unknown form", []byte{3, 0x14, 0, 0}, "bad time.Time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decoderOf(c.data)
			d.limit = min(d.limit, len(c.data)) // the field ends with the data
			if c.name == "past the field" {
				d.data = append(c.data, 0) // a byte past the payload, not to be read
			}
			got := d.ReadTime()
			err := d.Err()
			if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), c.msg) || got != (time.Time{}) {
				t.Fatalf("got %v, %v; want an error with %q", got, err, c.msg)
			}
		})
	}
}

// TestTimeZoneFormAllocs: a UTC, Local or named time decodes without
// allocating a Location (named zones come from the cache).
func TestTimeZoneFormAllocs(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range []time.Time{time.Now().UTC(), time.Now(), time.Now().In(paris)} {
		var e Encoder
		e.AppendTime(tm)
		d := decoderOf(e.buf)
		allocs := testing.AllocsPerRun(100, func() {
			e.buf = e.buf[:0]
			e.AppendTime(tm)
			*d = Decoder{data: e.buf, limit: len(e.buf)}
			d.ReadTime()
		})
		if d.Err() != nil {
			t.Fatal(d.Err())
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations per round trip", tm.Location(), allocs)
		}
	}
}

// TestTimeZoneCacheBounded: names from stored data do not grow the cache
// without bound.
func TestTimeZoneCacheBounded(t *testing.T) {
	for i := range 2 * maxZones {
		tm := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
		var e Encoder
		at := len(e.buf)
		e.buf = append(e.buf, 0, timeNamed)
		e.AppendVarint(tm.Unix())
		e.AppendUvarint(0)
		e.AppendVarint(3600)
		e.AppendString("No/Such_Zone_" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		e.patchLen(at)
		d := decoderOf(e.buf)
		got := d.ReadTime()
		if _, off := got.Zone(); d.Err() != nil || off != 3600 || !got.Equal(tm) {
			t.Fatalf("got %v, %v", got, d.Err())
		}
	}
	if n := zoneCount.Load(); n > maxZones {
		t.Fatalf("%d cached zones", n)
	}
}
