package conformance

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/internal/engine"
)

// Item is the value type of the suite's stores. It holds a string, an
// integer and three kinds of reference (a slice, a map and a pointer), so
// that the suite can check that stores copy values on the way in and out.
// A Next chain must not be cyclic: Append refuses one, Clone would not end.
type Item struct {
	Name  string
	N     int64
	Tags  []string
	Attrs map[string]int
	Next  *Item
}

// ItemCodec returns the hand-written codec of Item, as livedictgen would
// generate it: a deep Clone, string keys, and a small length-prefixed binary
// encoding whose decoder reports bad input with an error wrapping
// backend.ErrCorrupt and never panics.
func ItemCodec() engine.Codec[string, Item] {
	keyString, parseKey := engine.StringKey[string]()
	return engine.Codec[string, Item]{
		TypeName:  "conformance.Item",
		Bucket:    "items",
		Clone:     cloneItem,
		KeyString: keyString,
		ParseKey:  parseKey,
		Append:    appendItem,
		Decode:    decodeItem,
	}
}

// cloneItem deep-copies v, keeping nil and empty slices and maps apart. It
// walks the Next chain in a loop, so a long chain costs no stack.
func cloneItem(v Item) Item {
	out := v
	for cur := &out; ; {
		cur.Tags = slices.Clone(cur.Tags)
		cur.Attrs = maps.Clone(cur.Attrs)
		if cur.Next == nil {
			return out
		}
		next := *cur.Next
		cur.Next = &next
		cur = &next
	}
}

// itemFormat is the first byte of every encoded Item.
const itemFormat = 1

// appendItem encodes *v after dst. The layout is
//
//	format byte (1)
//	then, for the item and each item of its Next chain:
//	  Name   uvarint length, bytes
//	  N      varint
//	  Tags   uvarint count+1 (0: nil), then each as uvarint length, bytes
//	  Attrs  uvarint count+1 (0: nil), then sorted entries: key as Name, value varint
//	  Next   one byte: 0 (nil) or 1 (an item follows)
//
// A cyclic Next chain is an error.
func appendItem(dst []byte, v *Item) ([]byte, error) {
	dst = append(dst, itemFormat)
	slow := v // Floyd: slow moves one item for every two of cur
	for i, cur := 0, v; cur != nil; i, cur = i+1, cur.Next {
		if i > 0 && i%2 == 0 {
			slow = slow.Next
			if slow == cur {
				return dst, fmt.Errorf("conformance.Item: the Next chain is cyclic")
			}
		}
		dst = appendString(dst, cur.Name)
		dst = binary.AppendVarint(dst, cur.N)
		if cur.Tags == nil {
			dst = binary.AppendUvarint(dst, 0)
		} else {
			dst = binary.AppendUvarint(dst, uint64(len(cur.Tags))+1)
			for _, tag := range cur.Tags {
				dst = appendString(dst, tag)
			}
		}
		if cur.Attrs == nil {
			dst = binary.AppendUvarint(dst, 0)
		} else {
			dst = binary.AppendUvarint(dst, uint64(len(cur.Attrs))+1)
			for _, k := range slices.Sorted(maps.Keys(cur.Attrs)) {
				dst = appendString(dst, k)
				dst = binary.AppendVarint(dst, int64(cur.Attrs[k]))
			}
		}
		if cur.Next == nil {
			dst = append(dst, 0)
		} else {
			dst = append(dst, 1)
		}
	}
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeItem fills *v from data. Any malformed input (unknown format,
// truncation, a length past the end, a duplicate map key, trailing bytes)
// gives an error wrapping backend.ErrCorrupt.
func decodeItem(data []byte, v *Item) error {
	d := decoder{data: data}
	if f := d.byte("format"); d.err == nil && f != itemFormat {
		d.fail("unknown format %d", f)
	}
	var out Item
	for cur := &out; d.err == nil; {
		cur.Name = d.string("Name")
		cur.N = d.varint("N")
		if n, ok := d.count("Tags", 1); ok {
			cur.Tags = make([]string, 0, n)
			for range n {
				cur.Tags = append(cur.Tags, d.string("tag"))
			}
		}
		if n, ok := d.count("Attrs", 2); ok {
			cur.Attrs = make(map[string]int, n)
			for range n {
				k := d.string("Attrs key")
				val := d.varint("Attrs value")
				if d.err != nil {
					break
				}
				if int64(int(val)) != val {
					d.fail("Attrs value %d overflows int", val)
					break
				}
				if _, dup := cur.Attrs[k]; dup {
					d.fail("duplicate Attrs key %q", k)
					break
				}
				cur.Attrs[k] = int(val)
			}
		}
		switch next := d.byte("Next"); {
		case d.err != nil:
		case next == 0:
			if len(d.data) != d.pos {
				d.fail("%d trailing bytes", len(d.data)-d.pos)
			}
			if d.err == nil {
				*v = out
			}
			return d.err
		case next == 1:
			cur.Next = new(Item)
			cur = cur.Next
		default:
			d.fail("bad Next flag %d", next)
		}
	}
	return d.err
}

// decoder reads the encoding of appendItem; the first error sticks and
// every later read returns zero values.
type decoder struct {
	data []byte
	pos  int
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: conformance.Item at byte %d: %s", backend.ErrCorrupt, d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.data) {
		d.fail("truncated before %s", what)
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad or truncated %s", what)
		return 0
	}
	d.pos += n
	return x
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad or truncated %s", what)
		return 0
	}
	d.pos += n
	return x
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.data)-d.pos) {
		d.fail("%s length %d runs past the end", what, n)
		return ""
	}
	s := string(d.data[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s
}

// count reads a count+1 prefix. ok is false for nil (0) and on error. A
// count is refused when its elements, at minSize bytes each, could not fit
// in what is left, so bad input never makes the decoder allocate much.
func (d *decoder) count(what string, minSize int) (int, bool) {
	c := d.uvarint(what + " count")
	if d.err != nil || c == 0 {
		return 0, false
	}
	n := c - 1
	if n > uint64((len(d.data)-d.pos)/minSize) {
		d.fail("%s count %d runs past the end", what, n)
		return 0, false
	}
	return int(n), true
}

// StringCodec stores plain strings under string keys in bucket "bench":
// the backends' benchmarks measure the backend, not a serializer.
func StringCodec() engine.Codec[string, string] {
	ks, pk := engine.StringKey[string]()
	return engine.Codec[string, string]{
		TypeName:  "string",
		Bucket:    "bench",
		KeyString: ks,
		ParseKey:  pk,
		Append:    func(dst []byte, v *string) ([]byte, error) { return append(dst, *v...), nil },
		Decode:    func(data []byte, v *string) error { *v = string(data); return nil },
	}
}

// BenchKeys returns n keys of the same length: key-0000, key-0001, ...
func BenchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
	}
	return keys
}
