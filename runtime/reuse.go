package runtime

import "unsafe"

// Decoding into a value that is not zero reuses its memory: a slice's
// backing array when it has the room, a map (cleared), the struct a
// pointer field points to. Only memory at the top of a struct is reused,
// the slices, maps and pointers of its own fields, and what a reused
// pointer's struct holds in turn: elements of a reused slice start zero,
// as in a new one.
//
// A value may share memory between its parts: two fields with the same
// slice, a pointer into a slice or into the value itself, the same map
// twice. Reusing both would make one overwrite the other, so the Decoder
// records the memory it writes into without having allocated it (the value
// itself, and every part it reused) and reuses nothing that overlaps it:
// that part gets new memory instead, and the decoded value equals the
// record whatever the value held. Past maxClaims parts everything is new.
//
// Memory shared with anything outside the value (a copy of a slice the
// caller kept) is the caller's to avoid, as with encoding/json.

// maxClaims bounds the memory one decode tracks, the value itself
// included.
const maxClaims = 8

// claim is memory the decode writes into that it did not allocate.
type claim struct {
	at   unsafe.Pointer
	size uintptr
}

// claim records size bytes at p as written by this decode, and reports
// whether they may be: false when they overlap memory already claimed, or
// when there is no room left to record them.
func (d *Decoder) claim(p unsafe.Pointer, size uintptr) bool {
	if d.claims == len(d.claimed) {
		return false
	}
	a := uintptr(p)
	for _, c := range d.claimed[:d.claims] {
		if a < uintptr(c.at)+c.size && uintptr(c.at) < a+size {
			return false
		}
	}
	d.claimed[d.claims] = claim{p, size}
	d.claims++
	return true
}

// MakeSlice returns a slice of n zero elements for a field that held old
// before the decode: old's backing array when it holds n elements and may
// be reused, else a new one. ok from ReadCount bounded n.
func MakeSlice[S ~[]E, E any](d *Decoder, old S, n int) S {
	if old == nil { // a new value: small enough to inline
		return make(S, n)
	}
	return reuseSlice(d, old, n)
}

func reuseSlice[S ~[]E, E any](d *Decoder, old S, n int) S {
	var e E
	if cap(old) >= n && d.claim(unsafe.Pointer(unsafe.SliceData(old)), uintptr(cap(old))*unsafe.Sizeof(e)) {
		// Clear the elements the field showed too, so that they keep
		// nothing alive.
		clear(old[:max(n, len(old))])
		return old[:n]
	}
	return make(S, n)
}

// MakeMap returns an empty map for a field that held old before the decode:
// old, cleared, when it may be reused, else a new map with room for hint
// entries.
func MakeMap[M ~map[K]V, K comparable, V any](d *Decoder, old M, hint int) M {
	if old != nil && d.claim(*(*unsafe.Pointer)(unsafe.Pointer(&old)), 1) {
		clear(old)
		return old
	}
	return make(M, hint)
}

// NewStruct returns the struct a pointer field points to, for a field that
// held old before the decode: old when it may be reused, else a new struct.
// The struct's generated decoder sets all of it.
func NewStruct[P ~*T, T any](d *Decoder, old P) P {
	if old != nil && d.claim(unsafe.Pointer(old), unsafe.Sizeof(*old)) {
		return old
	}
	return new(T)
}

// ReadBytesInto is ReadBytes for a field that held old before the decode:
// the bytes go into old's backing array when it has the room and may be
// reused.
func (d *Decoder) ReadBytesInto(old []byte) []byte {
	c := d.ReadUvarint()
	if c == 0 {
		return nil
	}
	if c-1 > uint64(d.limit-d.pos) {
		d.failf("[]byte of %d bytes runs past the end", c-1)
		return nil
	}
	n := int(c - 1)
	var b []byte
	if cap(old) >= n && old != nil && d.claim(unsafe.Pointer(unsafe.SliceData(old)), uintptr(cap(old))) {
		b = old[:n]
	} else {
		b = make([]byte, n)
	}
	copy(b, d.data[d.pos:])
	d.pos += n
	return b
}
