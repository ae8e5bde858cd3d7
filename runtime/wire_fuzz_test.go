package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/livedict/livedict/backend"
)

// walk reads a struct of unknown shape: known signatures are read as their
// type (nested structs, pointers to structs and []string recursively),
// everything else is skipped.
func walk(d *Decoder) {
	for f := d.BeginStruct(); d.NextField(&f); {
		switch d.sig {
		case sigStruct:
			walk(d)
		case sigPtr:
			if d.ReadBool() {
				walk(d)
			}
		case sigStrings:
			n, _ := d.ReadCount(1)
			for range n {
				d.ReadString()
			}
		case sigInt64:
			d.ReadInt64()
		default:
			if len(d.FieldName()) == 1 && !d.Expect(sigString) {
				return
			}
			d.Skip()
		}
	}
}

// FuzzDecoder drives the readers with an arbitrary program over arbitrary
// data: no panic, no read past the limit, and every error wraps ErrCorrupt
// or ErrSchema.
func FuzzDecoder(f *testing.F) {
	e := Encoder{buf: []byte{}}
	e.AppendVarint(-3)
	e.AppendString("hello")
	e.AppendTime(time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC))
	e.AppendCount(2, false)
	e.AppendBool(true)
	e.AppendFloat64(math.Pi)
	f.Add([]byte{1, 9, 17, 18, 3, 14}, e.buf)
	rec, _ := Encode(nil, &line{From: point{X: 1, Name: "n", Tags: []string{"a"}}, To: &line{}}, appendLine)
	f.Add([]byte{20}, rec)
	f.Add([]byte{21}, rec)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, bytes.Repeat([]byte{0x81}, 64))
	f.Add([]byte{17}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, prog, data []byte) {
		if len(prog) > 256 {
			prog = prog[:256]
		}
		d := &Decoder{data: data, limit: len(data)}
		for _, op := range prog {
			switch op % 24 {
			case 0:
				d.ReadBool()
			case 1:
				d.ReadUvarint()
			case 2:
				d.ReadVarint()
			case 3:
				d.ReadInt()
			case 4:
				d.ReadInt8()
			case 5:
				d.ReadInt16()
			case 6:
				d.ReadInt32()
			case 7:
				d.ReadUint()
			case 8:
				d.ReadUint8()
			case 9:
				d.ReadUint16()
			case 10:
				d.ReadUint32()
			case 11:
				d.ReadUintptr()
			case 12:
				d.ReadFloat32()
			case 13:
				d.ReadFloat64()
			case 14:
				d.ReadString()
			case 15:
				var b []byte
				if op < 128 {
					b = d.ReadBytes()
				} else { // into a buffer of its own, or one too small
					b = d.ReadBytesInto(make([]byte, int(op-128)/8))
				}
				if len(b) > len(data) {
					t.Fatalf("ReadBytes returned %d bytes from %d", len(b), len(data))
				}
			case 16:
				d.ReadTime()
			case 17:
				n, ok := d.ReadCount(int(op>>5) + 1)
				if ok && n > len(data) {
					t.Fatalf("ReadCount allowed %d elements in %d bytes", n, len(data))
				}
			case 18:
				d.ReadDuration()
			case 19:
				var b big
				d.ReadBinary(&b)
			case 20:
				var l line
				_ = Decode(data, &l, decodeLine)
			case 21:
				d2 := &Decoder{data: data, limit: len(data)}
				walk(d2)
				if err := d2.Err(); err != nil && !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
					t.Fatalf("walk: %v", err)
				}
			case 22:
				var w word
				d.ReadText(&w)
			case 23:
				d.Skip()
			}
			if d.pos < 0 || d.pos > d.limit || d.limit > len(data) {
				t.Fatalf("pos %d, limit %d, len %d", d.pos, d.limit, len(data))
			}
		}
		if err := d.Err(); err != nil && !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		var l line
		if err := Decode(data, &l, decodeLine); err != nil && !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
			t.Fatalf("Decode: %v", err)
		}
	})
}

// FuzzPrimitiveRoundTrip: whatever is appended reads back the same.
func FuzzPrimitiveRoundTrip(f *testing.F) {
	f.Add(int64(-1), uint64(300), 2.5, "s", []byte("b"), int64(1e18), int32(0))
	f.Add(int64(math.MinInt64), uint64(math.MaxUint64), math.Inf(-1), "", []byte(nil), int64(0), int32(-60))
	f.Add(int64(0), uint64(0), 0.0, "", []byte{}, int64(0), int32(-123)) // UnmarshalBinary's offset bug
	f.Fuzz(func(t *testing.T, i int64, u uint64, fl float64, s string, b []byte, sec int64, off int32) {
		tm := time.Unix(sec%(1<<40), 0).In(time.FixedZone("", int(off%(18*3600))))
		e := Encoder{}
		e.AppendVarint(i)
		e.AppendUvarint(u)
		e.AppendFloat64(fl)
		e.AppendString(s)
		e.AppendBytes(b)
		e.AppendTime(tm)
		timeOK := e.Err() == nil
		d := &Decoder{data: e.buf, limit: len(e.buf)}
		if d.ReadVarint() != i || d.ReadUvarint() != u || math.Float64bits(d.ReadFloat64()) != math.Float64bits(fl) ||
			d.ReadString() != s {
			t.Fatal("scalar mismatch")
		}
		if got := d.ReadBytes(); !bytes.Equal(got, b) || (got == nil) != (b == nil) {
			t.Fatalf("bytes %q, want %q", got, b)
		}
		if timeOK {
			got := d.ReadTime()
			_, o1 := got.Zone()
			_, o2 := tm.Zone()
			if !got.Equal(tm) || o1 != o2 {
				t.Fatalf("time %v, want %v", got, tm)
			}
		}
		if d.Err() != nil || (timeOK && d.pos != len(e.buf)) {
			t.Fatalf("err %v, read %d of %d", d.Err(), d.pos, len(e.buf))
		}
	})
}

// FuzzFastPaths: every reader with a fast path for the common case reads
// what its general path reads, and leaves the Decoder as it does, errors
// included.
func FuzzFastPaths(f *testing.F) {
	e := Encoder{buf: []byte{}}
	e.AppendTime(time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC))
	e.AppendTime(time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC))
	e.AppendString("hello")
	e.AppendCount(3, false)
	f.Add(e.buf)
	rec, _ := Encode(nil, &line{From: point{X: 1, Name: "n", Tags: []string{"a"}}, To: &line{}}, appendLine)
	f.Add(rec[2:]) // a field header
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{5, timeUTC, 0x80, 0x80, 0x80, 0x01, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		x, n := uvarint(data)
		if wx, wn := binary.Uvarint(data); x != wx || n != wn {
			t.Fatalf("uvarint(%x) = %d, %d; binary.Uvarint: %d, %d", data, x, n, wx, wn)
		}
		same := func(what string, fast, slow *Decoder, got, want any) {
			t.Helper()
			if got != want || fast.pos != slow.pos || fast.limit != slow.limit || fast.nameAt != slow.nameAt ||
				fast.nameEnd != slow.nameEnd || fast.sig != slow.sig || (fast.err == nil) != (slow.err == nil) ||
				fast.err != nil && fast.err.Error() != slow.err.Error() {
				t.Fatalf("%s of %x: fast path %v, %+v; general path %v, %+v", what, data, got, *fast, want, *slow)
			}
		}
		for start := range min(len(data), 3) {
			for limit := start; limit <= len(data); limit += max(1, len(data)/4) {
				d1 := &Decoder{data: data, pos: start, limit: limit}
				d2 := &Decoder{data: data, pos: start, limit: limit}
				same("ReadUvarint", d1, d2, d1.ReadUvarint(), d2.longUvarint())

				d1 = &Decoder{data: data, pos: start, limit: limit}
				d2 = &Decoder{data: data, pos: start, limit: limit}
				// Times by instant, zone and Location name: a time.FixedZone
				// is a new *Location each time.
				timeOf := func(t time.Time) string {
					name, offset := t.Zone()
					return fmt.Sprint(t.Unix(), t.Nanosecond(), name, offset, t.Location())
				}
				same("ReadTime", d1, d2, timeOf(d1.ReadTime()), timeOf(d2.readTime()))

				d1 = &Decoder{data: data, pos: start, limit: limit}
				d2 = &Decoder{data: data, pos: start, limit: limit}
				same("ReadString", d1, d2, d1.ReadString(), string(d2.chunk("string")))

				for _, minSize := range []int{0, 1, 2, 9, 1 << 30} {
					d1 = &Decoder{data: data, pos: start, limit: limit}
					d2 = &Decoder{data: data, pos: start, limit: limit}
					n1, ok1 := d1.ReadCount(minSize)
					n2, ok2 := d2.longCount(minSize)
					same("ReadCount", d1, d2, [2]any{n1, ok1}, [2]any{n2, ok2})
				}

				d1 = &Decoder{data: data, pos: start, limit: limit}
				d2 = &Decoder{data: data, pos: start, limit: limit}
				b2 := false
				if d2.pos < d2.limit && d2.data[d2.pos] <= 1 {
					b2 = d2.data[d2.pos] == 1
					d2.pos++
				} else {
					d2.badBool()
				}
				same("ReadBool", d1, d2, d1.ReadBool(), b2)

				d1 = &Decoder{data: data, pos: start, limit: limit, depth: 1}
				d2 = &Decoder{data: data, pos: start, limit: limit, depth: 1}
				it1, it2 := FieldIter{left: 1}, FieldIter{left: 0}
				ok1 := d1.NextField(&it1)
				ok2 := d2.longFieldHeader(&it2)
				same("NextField", d1, d2, [2]any{ok1, it1}, [2]any{ok2, it2})
			}
		}
	})
}
