package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
)

func randomItem(r *rand.Rand, depth int) Item {
	v := Item{Name: randomString(r), N: r.Int64() - r.Int64()}
	if r.IntN(4) > 0 {
		v.Tags = make([]string, r.IntN(4))
		for i := range v.Tags {
			v.Tags[i] = randomString(r)
		}
	}
	if r.IntN(4) > 0 {
		v.Attrs = make(map[string]int)
		for range r.IntN(4) {
			v.Attrs[randomString(r)] = r.IntN(2000) - 1000
		}
	}
	if depth > 0 && r.IntN(2) == 0 {
		next := randomItem(r, depth-1)
		v.Next = &next
	}
	return v
}

func randomString(r *rand.Rand) string {
	const chars = "abcé\x00\xff"
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteByte(chars[r.IntN(len(chars))])
	}
	return b.String()
}

func TestItemCodecRoundTrip(t *testing.T) {
	c := ItemCodec()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		v := randomItem(r, 3)
		data, err := c.Append([]byte("prefix"), &v)
		if err != nil {
			t.Fatalf("item %d: Append: %v", i, err)
		}
		if string(data[:6]) != "prefix" {
			t.Fatalf("Append overwrote dst")
		}
		var got Item
		if err := c.Decode(data[6:], &got); err != nil {
			t.Fatalf("item %d: Decode: %v", i, err)
		}
		if d := cmp.Diff(v, got); d != "" {
			t.Fatalf("item %d: round trip (-want +got):\n%s", i, d)
		}
		clone := c.Clone(v)
		if d := cmp.Diff(v, clone); d != "" {
			t.Fatalf("item %d: Clone (-want +got):\n%s", i, d)
		}
		// Every strict prefix is refused, never a panic.
		for n := range len(data) - 6 {
			if err := c.Decode(data[6:6+n], &got); !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("item %d: Decode of %d of %d bytes: %v, want ErrCorrupt", i, n, len(data)-6, err)
			}
		}
	}
}

func TestItemAppendRefusesCycles(t *testing.T) {
	for n := 1; n <= 5; n++ {
		items := make([]Item, n)
		for i := range items {
			items[i].Name = fmt.Sprint("i", i)
			items[i].Next = &items[(i+1)%n]
		}
		if _, err := ItemCodec().Append(nil, &items[0]); err == nil {
			t.Fatalf("Append of a Next cycle of %d items succeeded", n)
		}
		items[n-1].Next = nil // a chain, no longer a cycle
		if _, err := ItemCodec().Append(nil, &items[0]); err != nil {
			t.Fatalf("Append of a chain of %d items: %v", n, err)
		}
	}
}

func TestItemCloneIsDeep(t *testing.T) {
	v := Item{Name: "a", Tags: []string{"x"}, Attrs: map[string]int{"k": 1}, Next: &Item{Name: "b", Tags: []string{"y"}}}
	c := cloneItem(v)
	c.Tags[0], c.Attrs["k"], c.Next.Name, c.Next.Tags[0] = "changed", 2, "changed", "changed"
	if v.Tags[0] != "x" || v.Attrs["k"] != 1 || v.Next.Name != "b" || v.Next.Tags[0] != "y" {
		t.Fatalf("Clone shares memory with the original: %+v", v)
	}
}

func FuzzItemDecode(f *testing.F) {
	c := ItemCodec()
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		v := randomItem(r, 2)
		data, err := c.Append(nil, &v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{itemFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Item
		if err := c.Decode(data, &v); err != nil {
			if !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("Decode error %v does not match ErrCorrupt", err)
			}
			return
		}
		// What decodes survives a round trip.
		data, err := c.Append(nil, &v)
		if err != nil {
			t.Fatalf("Append of a decoded item: %v", err)
		}
		var again Item
		if err := c.Decode(data, &again); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", v, err)
		}
		if d := cmp.Diff(v, again); d != "" {
			t.Fatalf("round trip of a decoded item (-want +got):\n%s", d)
		}
	})
}
