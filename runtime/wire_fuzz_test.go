package runtime

import (
	"bytes"
	"errors"
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
				b := d.ReadBytes()
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
