package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict/backend"
)

// decoderOf reads data as a field payload, without a record around it.
func decoderOf(data []byte) *Decoder { return &Decoder{data: data, limit: len(data)} }

// blob is a BinaryMarshaler without AppendBinary; big appends n bytes
// through AppendBinary, so the length prefix needs several bytes.
type blob struct{ b []byte }

func (b blob) MarshalBinary() ([]byte, error) { return b.b, nil }

func (b *blob) UnmarshalBinary(p []byte) error { b.b = p; return nil }

type big struct{ n int }

func (b big) MarshalBinary() ([]byte, error) { return b.AppendBinary(nil) }

func (b big) AppendBinary(dst []byte) ([]byte, error) {
	return append(dst, bytes.Repeat([]byte{'x'}, b.n)...), nil
}

func (b *big) UnmarshalBinary(p []byte) error {
	if len(bytes.Trim(p, "x")) != 0 {
		return errors.New("not all x")
	}
	b.n = len(p)
	return nil
}

type word string

func (w word) MarshalText() ([]byte, error) {
	if w == "" {
		return nil, errors.New("empty word")
	}
	return []byte(w), nil
}

func (w *word) UnmarshalText(p []byte) error {
	if len(p) == 0 {
		return errors.New("empty word")
	}
	*w = word(p)
	return nil
}

type primitive struct {
	name string
	enc  func(*Encoder)
	dec  func(*Decoder) any
	want any
}

func primitives() []primitive {
	var ps []primitive
	add := func(name string, enc func(*Encoder), dec func(*Decoder) any, want any) {
		ps = append(ps, primitive{name, enc, dec, want})
	}
	for _, b := range []bool{false, true} {
		add(fmt.Sprint("bool ", b), func(e *Encoder) { e.AppendBool(b) }, func(d *Decoder) any { return d.ReadBool() }, b)
	}
	for _, x := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt8, math.MinInt8, math.MaxInt16, math.MinInt32, math.MaxInt64, math.MinInt64} {
		add(fmt.Sprint("int64 ", x), func(e *Encoder) { e.AppendVarint(x) }, func(d *Decoder) any { return d.ReadInt64() }, x)
		add(fmt.Sprint("int ", x), func(e *Encoder) { e.AppendVarint(x) }, func(d *Decoder) any { return d.ReadInt() }, int(x))
		add(fmt.Sprint("duration ", x), func(e *Encoder) { e.AppendDuration(time.Duration(x)) },
			func(d *Decoder) any { return d.ReadDuration() }, time.Duration(x))
		if x == int64(int8(x)) {
			add(fmt.Sprint("int8 ", x), func(e *Encoder) { e.AppendVarint(x) }, func(d *Decoder) any { return d.ReadInt8() }, int8(x))
		}
		if x == int64(int16(x)) {
			add(fmt.Sprint("int16 ", x), func(e *Encoder) { e.AppendVarint(x) }, func(d *Decoder) any { return d.ReadInt16() }, int16(x))
		}
		if x == int64(int32(x)) {
			add(fmt.Sprint("int32 ", x), func(e *Encoder) { e.AppendVarint(x) }, func(d *Decoder) any { return d.ReadInt32() }, int32(x))
		}
	}
	for _, x := range []uint64{0, 1, 127, 128, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64} {
		add(fmt.Sprint("uint64 ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUint64() }, x)
		add(fmt.Sprint("uint ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUint() }, uint(x))
		add(fmt.Sprint("uintptr ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUintptr() }, uintptr(x))
		if x <= math.MaxUint8 {
			add(fmt.Sprint("uint8 ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUint8() }, uint8(x))
		}
		if x <= math.MaxUint16 {
			add(fmt.Sprint("uint16 ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUint16() }, uint16(x))
		}
		if x <= math.MaxUint32 {
			add(fmt.Sprint("uint32 ", x), func(e *Encoder) { e.AppendUvarint(x) }, func(d *Decoder) any { return d.ReadUint32() }, uint32(x))
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1.5, -2.25e300, math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64} {
		add(fmt.Sprint("float64 ", f), func(e *Encoder) { e.AppendFloat64(f) },
			func(d *Decoder) any { return math.Float64bits(d.ReadFloat64()) }, math.Float64bits(f))
		add(fmt.Sprint("float32 ", f), func(e *Encoder) { e.AppendFloat32(float32(f)) },
			func(d *Decoder) any { return math.Float32bits(d.ReadFloat32()) }, math.Float32bits(float32(f)))
	}
	nan := math.Float64frombits(0x7ff8000000000123) // NaN payloads survive
	add("float64 NaN", func(e *Encoder) { e.AppendFloat64(nan) },
		func(d *Decoder) any { return math.Float64bits(d.ReadFloat64()) }, math.Float64bits(nan))
	for _, s := range []string{"", "a", "日本語", "\x00\xff", strings.Repeat("z", 300)} {
		add(fmt.Sprintf("string %.10q", s), func(e *Encoder) { e.AppendString(s) }, func(d *Decoder) any { return d.ReadString() }, s)
	}
	for _, b := range [][]byte{nil, {}, {0}, []byte("bytes"), bytes.Repeat([]byte{7}, 200)} {
		add(fmt.Sprintf("bytes %v/%d", b == nil, len(b)), func(e *Encoder) { e.AppendBytes(b) },
			func(d *Decoder) any { x := d.ReadBytes(); return fmt.Sprintf("%v %x", x == nil, x) }, fmt.Sprintf("%v %x", b == nil, b))
	}
	for _, tm := range []time.Time{
		{},
		time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.FixedZone("X", -11*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 5*3600+45*60)),
		time.Date(1850, 6, 1, 0, 0, 0, 0, time.FixedZone("LMT", 3600+17)),
		time.Date(1850, 6, 1, 0, 0, 0, 0, time.FixedZone("LMT", -(4*3600+56*60+2))), // UnmarshalBinary gets this wrong
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("", -123)),
	} {
		add("time "+tm.String(), func(e *Encoder) { e.AppendTime(tm) }, func(d *Decoder) any {
			got := d.ReadTime()
			_, off := got.Zone()
			return fmt.Sprint(got.UnixNano(), got.Unix(), off, got.IsZero())
		}, fmt.Sprint(tm.UnixNano(), tm.Unix(), func() int { _, o := tm.Zone(); return o }(), tm.IsZero()))
	}
	for _, c := range []struct {
		n   int
		nil bool
	}{{0, true}, {0, false}, {5, false}, {1000, false}} {
		add(fmt.Sprint("count ", c), func(e *Encoder) {
			e.AppendCount(c.n, c.nil)
			for range c.n {
				e.AppendBool(true)
			}
		}, func(d *Decoder) any {
			n, ok := d.ReadCount(1)
			for range n {
				d.ReadBool()
			}
			return fmt.Sprint(n, !ok)
		}, fmt.Sprint(c.n, c.nil))
	}
	for _, b := range [][]byte{nil, []byte("abc")} {
		add(fmt.Sprintf("binary %q", b), func(e *Encoder) { e.AppendBinary(blob{b}) },
			func(d *Decoder) any { var x blob; d.ReadBinary(&x); return string(x.b) }, string(b))
	}
	for _, n := range []int{0, 127, 128, 20000} {
		add(fmt.Sprint("binary appender ", n), func(e *Encoder) { e.AppendBinary(big{n}) },
			func(d *Decoder) any { var x big; d.ReadBinary(&x); return x.n }, n)
	}
	add("text", func(e *Encoder) { e.AppendText(word("hello")) },
		func(d *Decoder) any { var w word; d.ReadText(&w); return string(w) }, "hello")
	add("text appender", func(e *Encoder) { e.AppendText(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) },
		func(d *Decoder) any { var tm time.Time; d.ReadText(&tm); return tm.String() }, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).String())
	return ps
}

func TestPrimitivesRoundTrip(t *testing.T) {
	for _, p := range primitives() {
		t.Run(p.name, func(t *testing.T) {
			e := Encoder{buf: []byte("pre")}
			p.enc(&e)
			if e.Err() != nil {
				t.Fatalf("encode: %v", e.Err())
			}
			data := e.buf[3:]
			d := decoderOf(data)
			got := p.dec(d)
			if d.Err() != nil {
				t.Fatalf("decode %x: %v", data, d.Err())
			}
			if got != p.want {
				t.Fatalf("decode %x = %v (%T), want %v (%T)", data, got, got, p.want, p.want)
			}
			if d.pos != len(data) {
				t.Fatalf("decode read %d of %d bytes", d.pos, len(data))
			}
			// Every strict prefix is refused.
			for n := range len(data) {
				d := decoderOf(data[:n])
				p.dec(d)
				if !errors.Is(d.Err(), backend.ErrCorrupt) {
					t.Fatalf("decode of %d of %d bytes %x: %v, want ErrCorrupt", n, len(data), data[:n], d.Err())
				}
			}
		})
	}
}

func TestPrimitiveErrors(t *testing.T) {
	varint := func(x int64) []byte { return binary.AppendVarint(nil, x) }
	uvarint := func(x uint64) []byte { return binary.AppendUvarint(nil, x) }
	for _, c := range []struct {
		name string
		data []byte
		read func(*Decoder)
		msg  string
	}{
		{"bool 2", []byte{2}, func(d *Decoder) { d.ReadBool() }, "bad bool"},
		{"int8 128", varint(128), func(d *Decoder) { d.ReadInt8() }, "overflows int8"},
		{"int8 -129", varint(-129), func(d *Decoder) { d.ReadInt8() }, "overflows int8"},
		{"int16", varint(1 << 15), func(d *Decoder) { d.ReadInt16() }, "overflows int16"},
		{"int32", varint(-1<<31 - 1), func(d *Decoder) { d.ReadInt32() }, "overflows int32"},
		{"uint8", uvarint(256), func(d *Decoder) { d.ReadUint8() }, "overflows uint8"},
		{"uint16", uvarint(1 << 16), func(d *Decoder) { d.ReadUint16() }, "overflows uint16"},
		{"uint32", uvarint(1 << 32), func(d *Decoder) { d.ReadUint32() }, "overflows uint32"},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.ReadUvarint() }, "overflows 64 bits"},
		{"string past end", append(uvarint(1<<40), "abc"...), func(d *Decoder) { d.ReadString() }, "runs past the end"},
		{"bytes past end", append(uvarint(5), "abc"...), func(d *Decoder) { d.ReadBytes() }, "runs past the end"},
		{"count past end", uvarint(1 << 62), func(d *Decoder) { d.ReadCount(1) }, "runs past the end"},
		{"count of floats", append(uvarint(3), make([]byte, 15)...), func(d *Decoder) { d.ReadCount(8) }, "runs past the end"},
		{"count unbounded", uvarint(math.MaxUint64), func(d *Decoder) { d.ReadCount(0) }, "overflows int"},
		{"time garbage", []byte{2, 9, 9}, func(d *Decoder) { d.ReadTime() }, "bad time.Time"},
		// Version 2, offset -2 minutes +1 second: -119 s, which
		// MarshalBinary cannot write back.
		{"time bad offset", []byte{16, 2, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 1}, func(d *Decoder) { d.ReadTime() }, "bad time.Time"},
		{"binary error", []byte{2, 'x', 'y'}, func(d *Decoder) { var b big; d.ReadBinary(&b) }, "not all x"},
		{"text error", []byte{0}, func(d *Decoder) { var w word; d.ReadText(&w) }, "empty word"},
		{"duplicate", nil, func(d *Decoder) { d.DuplicateKey() }, "duplicate map key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decoderOf(c.data)
			c.read(d)
			if err := d.Err(); !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want ErrCorrupt with %q", err, c.msg)
			}
			// The error is sticky: later reads give zero values.
			if d.ReadUvarint() != 0 || d.ReadString() != "" || d.ReadBool() {
				t.Fatal("a read after an error returned a value")
			}
		})
	}
}

// The test record types below are written the way templates writes
// generated code.

type point struct {
	X    int64
	Name string
	Tags []string
}

const (
	sigInt64   = 0x03d22364 // FNV-1a of "int64"
	sigString  = 0x17c16538
	sigStrings = 0xe4060d18
	sigStruct  = 0x92c2be20
	sigPtr     = 0x3eb9b4d8
)

func appendPoint(e *Encoder, v *point) {
	if !e.BeginStruct(3) {
		return
	}
	f := e.BeginField("X", sigInt64)
	e.AppendVarint(v.X)
	e.EndField(f)
	f = e.BeginField("Name", sigString)
	e.AppendString(v.Name)
	e.EndField(f)
	f = e.BeginField("Tags", sigStrings)
	e.AppendCount(len(v.Tags), v.Tags == nil)
	for i := range v.Tags {
		e.AppendString(v.Tags[i])
	}
	e.EndField(f)
	e.EndStruct()
}

func decodePoint(d *Decoder, v *point) {
	for f := d.BeginStruct(); d.NextField(&f); {
		switch string(d.FieldName()) {
		case "X":
			if d.Expect(sigInt64) {
				v.X = d.ReadInt64()
			}
		case "Name":
			if d.Expect(sigString) {
				v.Name = d.ReadString()
			}
		case "Tags":
			if d.Expect(sigStrings) {
				if n, ok := d.ReadCount(1); ok {
					s := make([]string, n)
					for i := range s {
						s[i] = d.ReadString()
					}
					v.Tags = s
				}
			}
		default:
			d.Skip()
		}
	}
}

// pointV2 is point with X dropped, Name read as a different type, and a
// new field.
type pointV2 struct {
	Name  int64
	Tags  []string
	Extra bool
}

func appendPointV2(e *Encoder, v *pointV2) {
	if !e.BeginStruct(2) {
		return
	}
	f := e.BeginField("Tags", sigStrings)
	e.AppendCount(len(v.Tags), v.Tags == nil)
	for i := range v.Tags {
		e.AppendString(v.Tags[i])
	}
	e.EndField(f)
	f = e.BeginField("Extra", 0xc894953d)
	e.AppendBool(v.Extra)
	e.EndField(f)
	e.EndStruct()
}

func decodePointV2(d *Decoder, v *pointV2) {
	for f := d.BeginStruct(); d.NextField(&f); {
		switch string(d.FieldName()) {
		case "Name":
			if d.Expect(sigInt64) {
				v.Name = d.ReadInt64()
			}
		case "Tags":
			if d.Expect(sigStrings) {
				if n, ok := d.ReadCount(1); ok {
					s := make([]string, n)
					for i := range s {
						s[i] = d.ReadString()
					}
					v.Tags = s
				}
			}
		case "Extra":
			if d.Expect(0xc894953d) {
				v.Extra = d.ReadBool()
			}
		default:
			d.Skip()
		}
	}
}

type line struct {
	From point
	To   *line
}

func appendLine(e *Encoder, v *line) {
	if !e.BeginStruct(2) {
		return
	}
	f := e.BeginField("From", sigStruct)
	appendPoint(e, &v.From)
	e.EndField(f)
	f = e.BeginField("To", sigPtr)
	if v.To == nil {
		e.AppendBool(false)
	} else {
		e.AppendBool(true)
		appendLine(e, v.To)
	}
	e.EndField(f)
	e.EndStruct()
}

func decodeLine(d *Decoder, v *line) {
	for f := d.BeginStruct(); d.NextField(&f); {
		switch string(d.FieldName()) {
		case "From":
			if d.Expect(sigStruct) {
				decodePoint(d, &v.From)
			}
		case "To":
			if d.Expect(sigPtr) {
				if d.ReadBool() {
					v.To = new(line)
					decodeLine(d, v.To)
				}
			}
		default:
			d.Skip()
		}
	}
}

type lineV2 struct {
	From pointV2
	To   *lineV2
}

func decodeLineV2(d *Decoder, v *lineV2) {
	for f := d.BeginStruct(); d.NextField(&f); {
		switch string(d.FieldName()) {
		case "From":
			if d.Expect(sigStruct) {
				decodePointV2(d, &v.From)
			}
		case "To":
			if d.Expect(sigPtr) {
				if d.ReadBool() {
					v.To = new(lineV2)
					decodeLineV2(d, v.To)
				}
			}
		default:
			d.Skip()
		}
	}
}

func TestStructRoundTrip(t *testing.T) {
	v := line{From: point{X: -5, Name: "a", Tags: []string{}}, To: &line{From: point{X: 7, Tags: []string{"x", "y"}}}}
	data, err := Encode([]byte("pre"), &v, appendLine)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:3]) != "pre" || data[3] != WireVersion {
		t.Fatalf("Encode wrote %x", data)
	}
	var got line
	if err := Decode(data[3:], &got, decodeLine); err != nil {
		t.Fatal(err)
	}
	if got.From.X != -5 || got.From.Name != "a" || got.From.Tags == nil || len(got.From.Tags) != 0 ||
		got.To == nil || got.To.From.X != 7 || fmt.Sprint(got.To.From.Tags) != "[x y]" || got.To.To != nil {
		t.Fatalf("round trip gave %+v", got)
	}
	for n := range len(data) - 3 {
		if err := Decode(data[3:3+n], &got, decodeLine); !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("Decode of %d bytes: %v, want ErrCorrupt", n, err)
		}
		if got.From.Name != "" || got.To != nil {
			t.Fatalf("a failed Decode left %+v", got)
		}
	}
	if err := Decode(append(data[3:], 0), &got, decodeLine); !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing byte: %v", err)
	}
	bad := append([]byte{2}, data[4:]...)
	if err := Decode(bad, &got, decodeLine); !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2: %v", err)
	}
}

func TestUnknownAndMissingFields(t *testing.T) {
	// point -> pointV2: X is unknown (skipped), Extra missing (zero), but
	// Name changed type.
	p := point{X: 1, Name: "n", Tags: []string{"t"}}
	data, err := Encode(nil, &p, appendPoint)
	if err != nil {
		t.Fatal(err)
	}
	var v2 pointV2
	err = Decode(data, &v2, decodePointV2)
	if !errors.Is(err, backend.ErrSchema) || !strings.Contains(err.Error(), `field "Name": stored as string, this build reads int64`) {
		t.Fatalf("Decode as pointV2: %v, want ErrSchema naming Name", err)
	}
	if errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("a schema error is also ErrCorrupt: %v", err)
	}

	// pointV2 -> point: Extra unknown, X and Name missing.
	data, err = Encode(nil, &pointV2{Tags: []string{"a"}, Extra: true}, appendPointV2)
	if err != nil {
		t.Fatal(err)
	}
	got := point{X: 99, Name: "stale"}
	if err := Decode(data, &got, decodePoint); err != nil {
		t.Fatal(err)
	}
	if got.X != 0 || got.Name != "" || fmt.Sprint(got.Tags) != "[a]" {
		t.Fatalf("got %+v", got)
	}

	// Nested: the error names the path.
	l := line{To: &line{From: point{Name: "deep"}}}
	data, err = Encode(nil, &l, appendLine)
	if err != nil {
		t.Fatal(err)
	}
	var l2 lineV2
	err = Decode(data, &l2, decodeLineV2)
	if !errors.Is(err, backend.ErrSchema) || !strings.Contains(err.Error(), `field "From.Name"`) {
		t.Fatalf("nested: %v", err)
	}
}

func TestPayloadMustBeReadExactly(t *testing.T) {
	// A field whose payload holds more than its reader takes.
	e := Encoder{buf: []byte{WireVersion}}
	e.BeginStruct(1)
	f := e.BeginField("X", sigInt64)
	e.AppendVarint(1)
	e.AppendVarint(2)
	e.EndField(f)
	e.EndStruct()
	var p point
	err := Decode(e.buf, &p, decodePoint)
	if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), `field "X": 1 bytes of the payload left unread`) {
		t.Fatalf("got %v", err)
	}
	// A field whose payload is shorter than its reader needs: the reader
	// does not run into the next field.
	e = Encoder{buf: []byte{WireVersion}}
	e.BeginStruct(2)
	f = e.BeginField("Name", sigString)
	e.AppendUvarint(3)
	e.EndField(f)
	f = e.BeginField("Zzz", sigString)
	e.buf = append(e.buf, "abc"...)
	e.EndField(f)
	e.EndStruct()
	err = Decode(e.buf, &p, decodePoint)
	if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), `field "Name": string of 3 bytes runs past the end`) {
		t.Fatalf("got %v", err)
	}
	// A header that claims more than there is.
	data, _ := Encode(nil, &point{Name: "abc"}, appendPoint)
	binary.LittleEndian.PutUint32(data[1+1+2+4:], 1<<31)
	if err := Decode(data, &p, decodePoint); !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "runs past the end") {
		t.Fatalf("got %v", err)
	}
	// A struct claiming more fields than bytes.
	if err := Decode([]byte{WireVersion, 0x80, 0x80, 0x80, 0x80, 0x01}, &p, decodePoint); !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
	if err := Decode(nil, &p, decodePoint); !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "empty record") {
		t.Fatalf("got %v", err)
	}
}

// nested builds the bytes of n lines, each the To of the previous, past
// what the Encoder agrees to write.
func nested(n int) []byte {
	if n == 0 {
		return []byte{0} // no fields
	}
	inner := append([]byte{1}, nested(n-1)...)
	b := []byte{1, 2, 'T', 'o'}
	b = binary.LittleEndian.AppendUint32(b, sigPtr)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(inner)))
	return append(b, inner...)
}

func TestDepth(t *testing.T) {
	var l line
	if err := Decode(append([]byte{WireVersion}, nested(MaxDepth-1)...), &l, decodeLine); err != nil {
		t.Fatalf("MaxDepth levels: %v", err)
	}
	err := Decode(append([]byte{WireVersion}, nested(MaxDepth)...), &l, decodeLine)
	if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "deeper than") ||
		!strings.Contains(err.Error(), "To.To.To") || !strings.Contains(err.Error(), "more)") {
		t.Fatalf("MaxDepth+1 levels: %v", err)
	}

	cyc := &line{}
	cyc.To = cyc
	if _, err := Encode(nil, cyc, appendLine); err == nil || !strings.Contains(err.Error(), "pointer cycle") {
		t.Fatalf("cycle: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	fail := errors.New("boom")
	type rec struct{ w word }
	appendRec := func(e *Encoder, v *rec) {
		if !e.BeginStruct(3) {
			return
		}
		f := e.BeginField("before", sigString)
		e.AppendString("ok")
		e.EndField(f)
		f = e.BeginField("w", 0)
		e.AppendText(v.w)
		e.EndField(f)
		f = e.BeginField("after", sigString)
		e.AppendString("ok")
		e.EndField(f)
		e.EndStruct()
	}
	dst := []byte("dst")
	out, err := Encode(dst, &rec{}, appendRec)
	if err == nil || err.Error() != `livedict: cannot encode: field "w": MarshalText: empty word` || string(out) != "dst" {
		t.Fatalf("got %q, %v", out, err)
	}
	_, err = Encode(nil, &rec{w: "x"}, func(e *Encoder, v *rec) {
		f := e.BeginField("a", 0)
		e.Fail(fail)
		e.EndField(f)
	})
	if !errors.Is(err, fail) || !strings.Contains(err.Error(), `field "a"`) {
		t.Fatalf("got %v", err)
	}
}

func TestNoAllocationPerPrimitive(t *testing.T) {
	e := Encoder{buf: make([]byte, 0, 1024)}
	d := decoderOf(nil)
	tm := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	allocs := testing.AllocsPerRun(100, func() {
		e.buf = e.buf[:0]
		e.AppendVarint(-12345)
		e.AppendUvarint(1 << 40)
		e.AppendFloat64(1.5)
		e.AppendFloat32(2.5)
		e.AppendBool(true)
		e.AppendTime(tm)
		e.AppendCount(3, false)
		e.AppendString("hello")
		e.AppendBytes([]byte("x"))
		*d = Decoder{data: e.buf, limit: len(e.buf)}
		d.ReadInt64()
		d.ReadUint64()
		d.ReadFloat64()
		d.ReadFloat32()
		d.ReadBool()
		d.ReadTime()
		d.ReadCount(1)
		d.Skip()
	})
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}
