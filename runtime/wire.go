package runtime

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/livedict/livedict/backend"
)

// The wire format of the serializer livedictgen generates. Generated code
// drives an Encoder and a Decoder; this file holds everything that does not
// depend on the user's types.
//
//	record  = version byte (WireVersion), struct
//	struct  = uvarint field count, field*
//	field   = uvarint name length, name, uint32le signature,
//	          uint32le payload length, payload
//
// The signature is the FNV-1a 32 hash of the field type's canonical shape
// (templates.Type.Signature), computed when the code is generated. A decoder
// matches fields by name, skips names it does not know, leaves missing
// fields zero, reads a known name written with its own signature or with
// that of an older type whose values it holds (a narrower integer, float32
// for float64, T for *T and back: templates/evolve.go), and refuses any
// other signature (ErrSchema, naming both types: shape.go).
//
// Payloads:
//
//	bool              1 byte, 0 or 1
//	signed integers   zigzag varint (time.Duration too)
//	unsigned integers uvarint
//	float32, float64  IEEE 754 bits, little endian, 4 or 8 bytes
//	string            uvarint length, bytes
//	[]byte            uvarint 0 (nil) or length+1, bytes
//	time.Time         uvarint length, the zone form (see timeUTC)
//	marshalers        uvarint length, MarshalBinary or MarshalText
//	pointer           1 byte: 0 (nil) or 1 followed by the element
//	slice, map        uvarint 0 (nil) or length+1, elements or key, value pairs
//	array             its elements (the length is part of the signature)
//	struct            the struct encoding above
//
// A decoder never trusts a length: every length and count is checked
// against the bytes left before anything is allocated, nesting is limited to
// MaxDepth, and every error wraps backend.ErrCorrupt or backend.ErrSchema.
const (
	// WireVersion is the first byte of every record.
	WireVersion = 1
	// MaxDepth is how deeply structs may nest in one record, on encode (a
	// pointer cycle fails instead of exhausting the stack) and on decode.
	MaxDepth = 1000
)

// minFieldHeader is the smallest field header: an empty name, the signature
// and the payload length.
const minFieldHeader = 1 + 4 + 4

// Encode appends the record of *v, written by fn, to dst. On error it
// returns dst unchanged (its spare capacity may have been written) and an
// error naming the field.
func Encode[T any](dst []byte, v *T, fn func(*Encoder, *T)) ([]byte, error) {
	e := Encoder{buf: append(dst, WireVersion)}
	fn(&e, v)
	if e.err != nil {
		return dst, e.err
	}
	return e.buf, nil
}

// Decode sets *v to the record in data, read by fn, a generated function
// of runtime version 2, which sets only the fields the record holds: *v is
// zeroed first. Later generated code calls DecodeInto.
func Decode[T any](data []byte, v *T, fn func(*Decoder, *T)) error {
	*v = *new(T)
	return DecodeInto(data, v, fn)
}

// DecodeInto sets *v to the record in data, read by fn (a generated
// function, which reads one struct and sets every field of *v). On error
// *v is left zero, and the error wraps backend.ErrCorrupt or
// backend.ErrSchema and names the field. The result never aliases data; it
// may reuse the memory of *v's slices, maps and pointed-to structs (see
// MakeSlice), so decode into a value whose parts nothing else uses. The
// version byte and the end of the record are checked by the outermost
// struct's BeginStruct and NextField, which keeps DecodeInto small enough
// to inline and its Decoder on the stack.
func DecodeInto[T any](data []byte, v *T, fn func(*Decoder, *T)) error {
	d := Decoder{data: data, limit: len(data)}
	d.claimed[0], d.claims = claim{unsafe.Pointer(v), unsafe.Sizeof(*v)}, 1 // v itself
	fn(&d, v)
	if d.err != nil {
		*v = *new(T)
		return d.err
	}
	return nil
}

// begin reads the version byte of the record.
func (d *Decoder) begin() bool {
	switch {
	case len(d.data) == 0:
		d.failf("empty record")
	case d.data[0] != WireVersion:
		d.failf("unknown wire format version %d", d.data[0])
	default:
		d.pos = 1
		return true
	}
	return false
}

// CloneBinary deep-copies a value whose type holds references by a
// MarshalBinary, UnmarshalBinary round trip. When either fails it returns v
// itself (a shallow copy).
func CloneBinary[T any, P interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](v T) T {
	b, err := P(&v).MarshalBinary()
	if err != nil {
		return v
	}
	var out T
	if P(&out).UnmarshalBinary(b) != nil {
		return v
	}
	return out
}

// CloneText is CloneBinary for TextMarshaler types.
func CloneText[T any, P interface {
	*T
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}](v T) T {
	b, err := P(&v).MarshalText()
	if err != nil {
		return v
	}
	var out T
	if P(&out).UnmarshalText(b) != nil {
		return v
	}
	return out
}

// wireError is an encode or decode error. Its field path is collected while
// the generated functions return, innermost field first.
type wireError struct {
	kind  error // backend.ErrCorrupt, backend.ErrSchema, or nil (encode)
	msg   string
	at    int // byte offset for decode errors, -1 otherwise
	cause error
	path  []string
}

func (e *wireError) Error() string {
	var b strings.Builder
	if e.kind != nil {
		b.WriteString(e.kind.Error())
	} else {
		b.WriteString("livedict: cannot encode")
	}
	if len(e.path) > 0 {
		b.WriteString(": field ")
		b.WriteString(strconv.Quote(e.pathString()))
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	if e.at >= 0 {
		b.WriteString(" (at byte ")
		b.WriteString(strconv.Itoa(e.at))
		b.WriteByte(')')
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// pathString joins the path outermost first, eliding the middle of very
// deep paths (a pointer cycle gives a thousand of them).
func (e *wireError) pathString() string {
	const keep = 8
	n := len(e.path)
	var b strings.Builder
	for i := n - 1; i >= 0; i-- {
		if n > 2*keep+1 && i == n-1-keep {
			fmt.Fprintf(&b, ".(%d more)", n-2*keep-1)
			i = keep
		}
		if i != n-1 {
			b.WriteByte('.')
		}
		b.WriteString(e.path[i])
	}
	return b.String()
}

func (e *wireError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Encoder appends the wire encoding of a value to a buffer. Its error is
// sticky: after the first one, BeginStruct returns false so generated code
// stops descending, and Encode returns the error.
type Encoder struct {
	buf   []byte
	depth int
	err   *wireError
	errAt int // len(buf) when err was set
}

// FieldMark is an open field, returned by BeginField for EndField.
type FieldMark struct {
	at   int // offset of the payload
	wire string
}

// Err returns the first error, or nil.
func (e *Encoder) Err() error {
	if e.err == nil {
		return nil
	}
	return e.err
}

// Fail records err, unless an error is already recorded.
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = &wireError{msg: err.Error(), at: -1, cause: err}
		e.errAt = len(e.buf)
	}
}

func (e *Encoder) failCause(msg string, cause error) {
	if e.err == nil {
		e.err = &wireError{msg: msg, at: -1, cause: cause}
		e.errAt = len(e.buf)
	}
}

// BeginStruct starts a struct of n fields. It returns false, and the
// generated code returns at once, after an error or when structs nest
// deeper than MaxDepth. A true return is paired with EndStruct.
func (e *Encoder) BeginStruct(n int) bool {
	if e.err != nil {
		return false
	}
	if e.depth >= MaxDepth {
		e.failCause(fmt.Sprintf("structs nest deeper than %d levels (is there a pointer cycle?)", MaxDepth), nil)
		return false
	}
	e.depth++
	e.AppendUvarint(uint64(n))
	return true
}

// EndStruct ends the struct BeginStruct started.
func (e *Encoder) EndStruct() { e.depth-- }

// BeginField writes the header of a field with its wire name and the
// signature of its type, and reserves its payload length, which EndField
// patches in.
func (e *Encoder) BeginField(wire string, sig uint32) FieldMark {
	b := binary.AppendUvarint(e.buf, uint64(len(wire)))
	b = append(b, wire...)
	b = binary.LittleEndian.AppendUint32(b, sig)
	b = append(b, 0, 0, 0, 0)
	e.buf = b
	return FieldMark{at: len(b), wire: wire}
}

// EndField completes the field BeginField opened.
func (e *Encoder) EndField(m FieldMark) {
	n := len(e.buf) - m.at
	if uint64(n) > math.MaxUint32 {
		e.failCause("payload over 4 GiB", nil)
	}
	if e.err != nil {
		if m.at <= e.errAt { // the error happened inside this field
			e.err.path = append(e.err.path, m.wire)
		}
		return
	}
	binary.LittleEndian.PutUint32(e.buf[m.at-4:m.at], uint32(n))
}

// AppendBool appends a bool, or a pointer's presence.
func (e *Encoder) AppendBool(b bool) {
	var x byte
	if b {
		x = 1
	}
	e.buf = append(e.buf, x)
}

// AppendUvarint appends an unsigned integer.
func (e *Encoder) AppendUvarint(x uint64) {
	if x < 0x80 {
		e.buf = append(e.buf, byte(x))
		return
	}
	e.buf = binary.AppendUvarint(e.buf, x)
}

// AppendVarint appends a signed integer, zigzag encoded.
func (e *Encoder) AppendVarint(x int64) { e.AppendUvarint(uint64(x<<1) ^ uint64(x>>63)) }

// AppendDuration appends a time.Duration as a varint.
func (e *Encoder) AppendDuration(d time.Duration) { e.AppendVarint(int64(d)) }

// AppendFloat32 appends the bits of f.
func (e *Encoder) AppendFloat32(f float32) {
	e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(f))
}

// AppendFloat64 appends the bits of f.
func (e *Encoder) AppendFloat64(f float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// AppendString appends a length-prefixed string.
func (e *Encoder) AppendString(s string) {
	e.AppendUvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// AppendBytes appends a byte slice: 0 for nil, else its length+1 and the
// bytes, so that nil and empty stay apart.
func (e *Encoder) AppendBytes(b []byte) {
	if b == nil {
		e.buf = append(e.buf, 0)
		return
	}
	e.AppendUvarint(uint64(len(b)) + 1)
	e.buf = append(e.buf, b...)
}

// AppendCount starts a slice or map of n elements; isNil tells nil from
// empty.
func (e *Encoder) AppendCount(n int, isNil bool) {
	if isNil {
		e.buf = append(e.buf, 0)
		return
	}
	e.AppendUvarint(uint64(n) + 1)
}

// The time.Time payload, inside its length prefix. Its first byte tells the
// forms apart: 1 or 2 is the Time.MarshalBinary form that records written
// before the zone form hold (still read, never written); 0x10 to 0x13 is
// the zone form:
//
//	zone form = kind byte, zigzag varint Unix seconds, uvarint nanoseconds,
//	            and for timeNamed and timeFixed: zigzag varint zone offset
//	            in seconds, uvarint name length, name
//
// timeUTC reads back in time.UTC and timeLocal in time.Local (the reader's
// Local, which may have another offset than the writer's); timeNamed is a
// Location loaded by its name (time.LoadLocation), read back by loading the
// name again, or, when the reader cannot load it (no zoneinfo for it), as
// time.FixedZone(name, offset): the same instant and offset, without the
// zone's rules; timeFixed is time.FixedZone(name, offset). The monotonic
// clock reading is never written.
const (
	timeUTC   = 0x10
	timeLocal = 0x11
	timeNamed = 0x12
	timeFixed = 0x13
)

// AppendTime appends t in the zone form, length-prefixed. A Location
// other than UTC and Local counts as named when it has zone transitions,
// and as fixed otherwise. A named Location is written by its name alone:
// one made by time.LoadLocationFromTZData reads back as the zone of that
// name where it loads, else as a fixed zone, while the memory backend,
// which copies values, keeps it.
func (e *Encoder) AppendTime(t time.Time) {
	at := len(e.buf)
	e.buf = append(e.buf, 0) // the length, patched below
	loc := t.Location()
	kind := byte(timeNamed)
	switch {
	case loc == time.UTC:
		kind = timeUTC
	case loc == time.Local:
		kind = timeLocal
	default:
		if start, end := t.ZoneBounds(); start.IsZero() && end.IsZero() {
			kind = timeFixed // a zone in effect forever: time.FixedZone
		}
	}
	e.buf = append(e.buf, kind)
	e.AppendVarint(t.Unix())
	e.AppendUvarint(uint64(t.Nanosecond()))
	if kind == timeNamed || kind == timeFixed {
		name, offset := t.Zone()
		if kind == timeNamed {
			name = loc.String()
		}
		e.AppendVarint(int64(offset))
		e.AppendString(name)
	}
	e.patchLen(at)
}

// AppendBinary appends the MarshalBinary form of m, length-prefixed.
func (e *Encoder) AppendBinary(m encoding.BinaryMarshaler) {
	if a, ok := m.(encoding.BinaryAppender); ok {
		at := len(e.buf)
		b, err := a.AppendBinary(append(e.buf, 0))
		if err == nil && len(b) < at+1 {
			err = fmt.Errorf("AppendBinary returned %d bytes, less than it was given", len(b))
		}
		if err != nil {
			e.failCause("AppendBinary", err)
			return
		}
		e.buf = b
		e.patchLen(at)
		return
	}
	b, err := m.MarshalBinary()
	if err != nil {
		e.failCause("MarshalBinary", err)
		return
	}
	e.AppendUvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// AppendText appends the MarshalText form of m, length-prefixed.
func (e *Encoder) AppendText(m encoding.TextMarshaler) {
	if a, ok := m.(encoding.TextAppender); ok {
		at := len(e.buf)
		b, err := a.AppendText(append(e.buf, 0))
		if err == nil && len(b) < at+1 {
			err = fmt.Errorf("AppendText returned %d bytes, less than it was given", len(b))
		}
		if err != nil {
			e.failCause("AppendText", err)
			return
		}
		e.buf = b
		e.patchLen(at)
		return
	}
	b, err := m.MarshalText()
	if err != nil {
		e.failCause("MarshalText", err)
		return
	}
	e.AppendUvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// patchLen turns the byte reserved at buf[at] and the content appended
// after it into a uvarint length and the content, moving the content when
// the length needs more than one byte.
func (e *Encoder) patchLen(at int) {
	n := len(e.buf) - at - 1
	if n < 0x80 {
		e.buf[at] = byte(n)
		return
	}
	k := (bits.Len64(uint64(n)) + 6) / 7 // bytes of the uvarint
	e.buf = append(e.buf, make([]byte, k-1)...)
	copy(e.buf[at+k:], e.buf[at+1:at+1+n])
	binary.PutUvarint(e.buf[at:], uint64(n))
}

// Decoder reads a record. Reads never go past the end of the current field's
// payload; its error is sticky: after the first one every read returns a
// zero value and NextField returns false, so generated code unwinds.
//
// The readers generated code calls for every value (ReadUvarint,
// ReadString, ReadCount, ReadBool) are small enough to inline: they handle
// the common case (a one-byte length that fits) themselves and call a
// function of their own for everything else, errors included. The current
// field's name is kept as offsets, not a slice, so that opening a field
// writes no pointers.
type Decoder struct {
	data    []byte
	pos     int
	limit   int // end of what may be read: the current field's payload
	depth   int
	nameAt  int    // the current field's name is data[nameAt:nameEnd]
	nameEnd int    //
	sig     uint32 // its signature
	err     *wireError
	// claimed is the memory the decode writes into that it did not
	// allocate (reuse.go).
	claimed [maxClaims]claim
	claims  int
}

// FieldIter walks the fields of one struct; generated code keeps it in a
// local variable, declared before its loop (a variable of the loop's init
// statement would be copied on every iteration).
type FieldIter struct {
	left  uint64 // fields not yet started
	end   int    // end of the open field's payload; 0 before the first
	outer int    // the limit to restore after it
	hdr   int    // where its header starts, to name it on error
}

// Err returns the first error, or nil.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

func (d *Decoder) setErr(err *wireError) {
	if d.err == nil {
		d.err = err
		d.limit = d.pos // every further read fails
	}
}

func (d *Decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.setErr(&wireError{kind: backend.ErrCorrupt, msg: fmt.Sprintf(format, args...), at: d.pos})
	}
}

func (d *Decoder) failCause(msg string, cause error) {
	if d.err == nil {
		d.setErr(&wireError{kind: backend.ErrCorrupt, msg: msg, at: d.pos, cause: cause})
	}
}

// BeginStruct reads a struct's field count. Loop with NextField.
func (d *Decoder) BeginStruct() FieldIter {
	if d.depth == 0 && d.pos == 0 && !d.begin() {
		return FieldIter{}
	}
	n := d.ReadUvarint()
	if d.err != nil {
		return FieldIter{}
	}
	if d.depth >= MaxDepth {
		d.failf("structs nest deeper than %d levels", MaxDepth)
		return FieldIter{}
	}
	if n > uint64((d.limit-d.pos)/minFieldHeader) {
		d.failf("struct of %d fields runs past the end", n)
		return FieldIter{}
	}
	d.depth++
	return FieldIter{left: n}
}

// NextField checks that the previous field's payload was read exactly,
// then reads the next field's header and limits reads to its payload. It
// returns false after the last field and on error.
func (d *Decoder) NextField(it *FieldIter) bool {
	if it.end != 0 { // a field is open: every payload ends past the record's first byte
		if d.pos != it.end || d.err != nil {
			return d.closeFailed(it)
		}
		d.limit = it.outer
	}
	if it.left == 0 || d.err != nil {
		return d.endStruct()
	}
	it.left--
	// The header: a name of fewer than 128 bytes (a one-byte length), the
	// signature and the payload length.
	p, limit := d.pos, d.limit
	if p >= limit || d.data[p] >= 0x80 {
		return d.longFieldHeader(it)
	}
	nameAt := p + 1
	nameEnd := nameAt + int(d.data[p])
	if limit-nameEnd < 8 {
		return d.longFieldHeader(it)
	}
	h := d.data[nameEnd : nameEnd+8]
	sig := binary.LittleEndian.Uint32(h)
	size := binary.LittleEndian.Uint32(h[4:])
	p = nameEnd + 8
	if uint64(size) > uint64(limit-p) {
		return d.longFieldHeader(it)
	}
	it.end, it.outer, it.hdr = p+int(size), limit, nameAt-1
	d.pos, d.limit = p, it.end
	d.nameAt, d.nameEnd, d.sig = nameAt, nameEnd, sig
	return true
}

// closeFailed ends the open field it after an error inside it, or when its
// payload was not read exactly, adding its name to the error's path.
//
//go:noinline
func (d *Decoder) closeFailed(it *FieldIter) bool {
	if d.err == nil {
		d.failf("%d bytes of the payload left unread", it.end-d.pos)
	}
	it.end = 0
	n, k := binary.Uvarint(d.data[it.hdr:]) // the header was read once: it holds
	d.err.path = append(d.err.path, string(d.data[it.hdr+k:it.hdr+k+int(n)]))
	return false
}

// endStruct ends a struct after its last field, checking for trailing bytes
// after the outermost one, or on error.
func (d *Decoder) endStruct() bool {
	if d.err == nil {
		if d.depth--; d.depth == 0 && d.pos != len(d.data) {
			d.failf("%d trailing bytes", len(d.data)-d.pos)
		}
	}
	return false
}

// longFieldHeader is NextField's reading of a header for everything its
// fast path does not take: a name of 128 bytes or more, and every error.
func (d *Decoder) longFieldHeader(it *FieldIter) bool {
	hdr := d.pos
	n := d.ReadUvarint()
	if d.err == nil && n > uint64(d.limit-d.pos) {
		d.failf("field name of %d bytes runs past the end", n)
	}
	if d.err != nil {
		return false
	}
	nameAt, nameEnd := d.pos, d.pos+int(n)
	name := d.data[nameAt:nameEnd]
	d.pos = nameEnd
	if d.limit-d.pos < 8 {
		d.failf("field %q: truncated header", name)
		return false
	}
	sig := binary.LittleEndian.Uint32(d.data[d.pos:])
	size := binary.LittleEndian.Uint32(d.data[d.pos+4:])
	d.pos += 8
	if uint64(size) > uint64(d.limit-d.pos) {
		d.failf("field %q: payload of %d bytes runs past the end", name, size)
		return false
	}
	it.end, it.outer, it.hdr = d.pos+int(size), d.limit, hdr
	d.limit = it.end
	d.nameAt, d.nameEnd, d.sig = nameAt, nameEnd, sig
	return true
}

// FieldName is the wire name of the field NextField opened. It aliases the
// input: compare it (switch string(d.FieldName()) does not allocate), do
// not keep it.
func (d *Decoder) FieldName() []byte { return d.data[d.nameAt:d.nameEnd] }

// Expect reports whether the open field was written with signature sig;
// when not, it records an error wrapping backend.ErrSchema. Generated code
// switches on Signature instead, to read older types too.
func (d *Decoder) Expect(sig uint32) bool {
	if d.sig == sig {
		return true
	}
	if d.err == nil {
		d.setErr(&wireError{kind: backend.ErrSchema, msg: schemaMessage(d.sig, sig, ""), at: -1})
	}
	return false
}

// Skip passes over the rest of the open field, a field this build does not
// know.
func (d *Decoder) Skip() { d.pos = d.limit }

// ReadBool reads a bool, or a pointer's presence.
func (d *Decoder) ReadBool() bool {
	if d.pos < d.limit {
		if b := d.data[d.pos]; b <= 1 {
			d.pos++
			return b == 1
		}
	}
	d.badBool()
	return false
}

func (d *Decoder) badBool() {
	if d.pos >= d.limit {
		d.failf("truncated bool")
	} else {
		d.failf("bad bool byte %#x", d.data[d.pos])
	}
}

// ReadUvarint reads an unsigned integer.
func (d *Decoder) ReadUvarint() uint64 {
	if d.pos < d.limit {
		if b := d.data[d.pos]; b < 0x80 {
			d.pos++
			return uint64(b)
		}
	}
	return d.longUvarint()
}

// longUvarint is ReadUvarint for a varint of more than one byte, and for
// errors.
func (d *Decoder) longUvarint() uint64 {
	x, n := uvarint(d.data[d.pos:d.limit])
	if n <= 0 {
		if n == 0 {
			d.failf("truncated varint")
		} else {
			d.failf("varint overflows 64 bits")
		}
		return 0
	}
	d.pos += n
	return x
}

// uvarint is binary.Uvarint unrolled: varints of up to five bytes, the
// lengths and times of a record, are read without a loop. Longer ones, and
// errors, go to binary.Uvarint.
func uvarint(b []byte) (uint64, int) {
	if len(b) == 0 || b[0] < 0x80 {
		return binary.Uvarint(b)
	}
	x := uint64(b[0]) & 0x7f
	if len(b) < 2 {
		return binary.Uvarint(b)
	}
	y := uint64(b[1])
	x |= (y & 0x7f) << 7
	if y < 0x80 {
		return x, 2
	}
	if len(b) < 3 {
		return binary.Uvarint(b)
	}
	y = uint64(b[2])
	x |= (y & 0x7f) << 14
	if y < 0x80 {
		return x, 3
	}
	if len(b) < 4 {
		return binary.Uvarint(b)
	}
	y = uint64(b[3])
	x |= (y & 0x7f) << 21
	if y < 0x80 {
		return x, 4
	}
	if len(b) < 5 {
		return binary.Uvarint(b)
	}
	y = uint64(b[4])
	x |= (y & 0x7f) << 28
	if y < 0x80 {
		return x, 5
	}
	return binary.Uvarint(b)
}

// ReadVarint reads a zigzag-encoded signed integer.
func (d *Decoder) ReadVarint() int64 {
	u := d.ReadUvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *Decoder) rangeErr(x any, kind string) {
	d.failf("%v overflows %s", x, kind)
}

// ReadInt reads an int.
func (d *Decoder) ReadInt() int {
	x := d.ReadVarint()
	if int64(int(x)) != x {
		d.rangeErr(x, "int")
		return 0
	}
	return int(x)
}

// ReadInt8 reads an int8.
func (d *Decoder) ReadInt8() int8 {
	x := d.ReadVarint()
	if int64(int8(x)) != x {
		d.rangeErr(x, "int8")
		return 0
	}
	return int8(x)
}

// ReadInt16 reads an int16.
func (d *Decoder) ReadInt16() int16 {
	x := d.ReadVarint()
	if int64(int16(x)) != x {
		d.rangeErr(x, "int16")
		return 0
	}
	return int16(x)
}

// ReadInt32 reads an int32.
func (d *Decoder) ReadInt32() int32 {
	x := d.ReadVarint()
	if int64(int32(x)) != x {
		d.rangeErr(x, "int32")
		return 0
	}
	return int32(x)
}

// ReadInt64 reads an int64.
func (d *Decoder) ReadInt64() int64 { return d.ReadVarint() }

// ReadDuration reads a time.Duration.
func (d *Decoder) ReadDuration() time.Duration { return time.Duration(d.ReadVarint()) }

// ReadUint reads a uint.
func (d *Decoder) ReadUint() uint {
	x := d.ReadUvarint()
	if uint64(uint(x)) != x {
		d.rangeErr(x, "uint")
		return 0
	}
	return uint(x)
}

// ReadUint8 reads a uint8.
func (d *Decoder) ReadUint8() uint8 {
	x := d.ReadUvarint()
	if x > math.MaxUint8 {
		d.rangeErr(x, "uint8")
		return 0
	}
	return uint8(x)
}

// ReadUint16 reads a uint16.
func (d *Decoder) ReadUint16() uint16 {
	x := d.ReadUvarint()
	if x > math.MaxUint16 {
		d.rangeErr(x, "uint16")
		return 0
	}
	return uint16(x)
}

// ReadUint32 reads a uint32.
func (d *Decoder) ReadUint32() uint32 {
	x := d.ReadUvarint()
	if x > math.MaxUint32 {
		d.rangeErr(x, "uint32")
		return 0
	}
	return uint32(x)
}

// ReadUint64 reads a uint64.
func (d *Decoder) ReadUint64() uint64 { return d.ReadUvarint() }

// ReadUintptr reads a uintptr.
func (d *Decoder) ReadUintptr() uintptr {
	x := d.ReadUvarint()
	if uint64(uintptr(x)) != x {
		d.rangeErr(x, "uintptr")
		return 0
	}
	return uintptr(x)
}

// ReadFloat32 reads a float32.
func (d *Decoder) ReadFloat32() float32 {
	if d.limit-d.pos < 4 {
		d.failf("truncated float32")
		return 0
	}
	x := binary.LittleEndian.Uint32(d.data[d.pos:])
	d.pos += 4
	return math.Float32frombits(x)
}

// ReadFloat64 reads a float64.
func (d *Decoder) ReadFloat64() float64 {
	if d.limit-d.pos < 8 {
		d.failf("truncated float64")
		return 0
	}
	x := binary.LittleEndian.Uint64(d.data[d.pos:])
	d.pos += 8
	return math.Float64frombits(x)
}

// chunk reads a uvarint length and returns that many bytes, aliasing the
// input.
func (d *Decoder) chunk(what string) []byte {
	n := d.ReadUvarint()
	if n > uint64(d.limit-d.pos) {
		d.failf("%s of %d bytes runs past the end", what, n)
		return nil
	}
	b := d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b
}

// ReadString reads a string.
func (d *Decoder) ReadString() string {
	if p := d.pos; p < d.limit {
		if n := int(d.data[p]); n < 0x80 && n < d.limit-p {
			d.pos = p + 1 + n
			return string(d.data[p+1 : p+1+n])
		}
	}
	return string(d.chunk("string"))
}

// ReadBytes reads a byte slice into new memory; nil stays nil and empty stays
// empty.
func (d *Decoder) ReadBytes() []byte {
	c := d.ReadUvarint()
	if c == 0 {
		return nil
	}
	if c-1 > uint64(d.limit-d.pos) {
		d.failf("[]byte of %d bytes runs past the end", c-1)
		return nil
	}
	n := int(c - 1)
	b := make([]byte, n)
	copy(b, d.data[d.pos:])
	d.pos += n
	return b
}

// ReadTime reads a time.Time, in the zone form or in the MarshalBinary
// form of older records.
func (d *Decoder) ReadTime() time.Time {
	// The zone form of a UTC time, which most records hold, read in place;
	// everything else, errors included, by readTime.
	if p := d.pos; p+1 < d.limit {
		if n := int(d.data[p]); n > 0 && n < 0x80 && n < d.limit-p && d.data[p+1] == timeUTC {
			b := d.data[p+2 : p+1+n]
			if sec, i := uvarint(b); i > 0 {
				if nsec, j := uvarint(b[i:]); j > 0 && i+j == len(b) && nsec < 1e9 {
					d.pos = p + 1 + n
					return time.Unix(int64(sec>>1)^-int64(sec&1), int64(nsec)).UTC()
				}
			}
		}
	}
	return d.readTime()
}

// readTime is ReadTime for every form but a UTC time in the zone form.
func (d *Decoder) readTime() time.Time {
	b := d.chunk("time.Time")
	if d.err != nil {
		return time.Time{}
	}
	if len(b) > 0 && b[0] >= timeUTC && b[0] <= timeFixed {
		// Read the zone form in place, limited to its payload.
		outer := d.limit
		d.pos, d.limit = d.pos-len(b)+1, d.pos
		t := d.zoneTime(b[0])
		if d.err != nil {
			return time.Time{}
		}
		d.limit = outer
		return t
	}
	return d.binaryTime(b)
}

// zoneTime reads the zone form of a time after its kind byte, up to
// d.limit.
func (d *Decoder) zoneTime(kind byte) time.Time {
	sec := d.ReadVarint()
	nsec := d.ReadUvarint()
	var offset int64
	var name []byte
	if kind == timeNamed || kind == timeFixed {
		offset = d.ReadVarint()
		name = d.chunk("zone name")
	}
	switch {
	case d.err != nil:
	case nsec >= 1e9:
		d.failf("bad time.Time: %d nanoseconds", nsec)
	case int64(int(offset)) != offset:
		d.failf("bad time.Time: zone offset %d overflows int", offset)
	case kind == timeNamed && len(name) == 0:
		d.failf("bad time.Time: named zone without a name")
	case d.pos != d.limit:
		d.failf("bad time.Time: %d trailing bytes", d.limit-d.pos)
	}
	if d.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	switch kind {
	case timeUTC:
		return t.UTC()
	case timeLocal:
		return t // time.Unix is in time.Local
	case timeNamed:
		if loc := loadZone(name); loc != nil {
			return t.In(loc)
		}
	}
	return t.In(time.FixedZone(string(name), int(offset)))
}

// zones caches time.LoadLocation by name, so that decoding a named zone
// reads the zoneinfo once per process; a name that does not load is cached
// as nil. At most maxZones names are kept: names come from stored data.
var (
	zones     sync.Map // string -> *time.Location
	zoneCount atomic.Int32
)

const maxZones = 256

// loadZone returns the Location of name, or nil when it does not load here.
func loadZone(name []byte) *time.Location {
	if loc, ok := zones.Load(string(name)); ok {
		return loc.(*time.Location)
	}
	n := string(name)
	loc, err := time.LoadLocation(n)
	if err != nil {
		loc = nil
	}
	if zoneCount.Load() < maxZones {
		if _, loaded := zones.LoadOrStore(n, loc); !loaded {
			zoneCount.Add(1)
		}
	}
	return loc
}

// binaryTime reads the MarshalBinary form of a time, which records written
// before the zone form hold. A time whose zone offset MarshalBinary cannot
// write back is refused, as it was when that form was written.
func (d *Decoder) binaryTime(b []byte) time.Time {
	var t time.Time
	if err := t.UnmarshalBinary(b); err != nil {
		d.failCause("bad time.Time", err)
		return time.Time{}
	}
	if len(b) == 16 && b[0] == 2 && int8(b[15]) < 0 {
		t = fixOffsetSeconds(t, b)
	}
	var scratch [24]byte
	if _, err := t.AppendBinary(scratch[:0]); err != nil {
		d.failCause("bad time.Time", err)
		return time.Time{}
	}
	return t
}

// fixOffsetSeconds corrects a time.Time that UnmarshalBinary read from
// format version 2 with a negative zone offset that is not a whole number
// of minutes (a local mean time before 1900 west of Greenwich, such as
// New York's -4:56:02): MarshalBinary writes the seconds as an int8,
// UnmarshalBinary reads them back as a uint8, which keeps the instant but
// gets the offset wrong.
func fixOffsetSeconds(t time.Time, b []byte) time.Time {
	offset := int(int16(b[13])<<8|int16(b[14]))*60 + int(int8(b[15]))
	if offset == -60 {
		return t.UTC()
	}
	if _, local := t.In(time.Local).Zone(); local == offset {
		return t.In(time.Local)
	}
	return t.In(time.FixedZone("", offset))
}

// ReadBinary reads the bytes AppendBinary wrote into u, with UnmarshalBinary.
// u gets its own copy of the bytes.
func (d *Decoder) ReadBinary(u encoding.BinaryUnmarshaler) {
	b := d.chunk("binary value")
	if d.err != nil {
		return
	}
	if err := u.UnmarshalBinary(append([]byte{}, b...)); err != nil {
		d.failCause("UnmarshalBinary", err)
	}
}

// ReadText reads the bytes AppendText wrote into u, with UnmarshalText. u gets
// its own copy of the bytes.
func (d *Decoder) ReadText(u encoding.TextUnmarshaler) {
	b := d.chunk("text value")
	if d.err != nil {
		return
	}
	if err := u.UnmarshalText(append([]byte{}, b...)); err != nil {
		d.failCause("UnmarshalText", err)
	}
}

// ReadCount reads the count of a slice or map: ok is false for nil and on error.
// minSize is the fewest bytes one element (for a map, one key and one value)
// takes on the wire; a count that could not fit in the bytes left is refused
// before anything is allocated. minSize 0 (zero-sized elements) bounds
// nothing.
func (d *Decoder) ReadCount(minSize int) (n int, ok bool) {
	if p := d.pos; p < d.limit {
		// A count below 127 in one byte, which fits in what is left.
		if c := int(d.data[p]); c > 0 && c < 0x80 && uint64(c-1)*uint64(minSize) <= uint64(d.limit-p-1) {
			d.pos = p + 1
			return c - 1, true
		}
	}
	return d.longCount(minSize)
}

// longCount is ReadCount for everything but a small count that fits: nil,
// a count of more than one byte, and errors.
func (d *Decoder) longCount(minSize int) (n int, ok bool) {
	c := d.ReadUvarint()
	if c == 0 {
		return 0, false
	}
	c--
	if minSize > 0 && c > uint64((d.limit-d.pos)/minSize) {
		d.failf("count %d runs past the end", c)
		return 0, false
	}
	if c > math.MaxInt {
		d.failf("count %d overflows int", c)
		return 0, false
	}
	return int(c), true
}

// DuplicateKey records that a map holds a key twice.
func (d *Decoder) DuplicateKey() { d.failf("duplicate map key") }
