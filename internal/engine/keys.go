package engine

import (
	"encoding"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/livedict/livedict/backend"
)

// StringKey returns the key functions of a string key type.
func StringKey[K ~string]() (func(K) string, func(string) (K, error)) {
	return func(k K) string { return string(k) }, func(s string) (K, error) { return K(s), nil }
}

// IntKey returns the key functions of a signed integer key type.
func IntKey[K ~int | ~int8 | ~int16 | ~int32 | ~int64]() (func(K) string, func(string) (K, error)) {
	return func(k K) string { return strconv.FormatInt(int64(k), 10) },
		func(s string) (K, error) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || int64(K(n)) != n {
				return 0, fmt.Errorf("%w: key %q is not a valid integer of the key type", backend.ErrCorrupt, s)
			}
			return K(n), nil
		}
}

// UintKey returns the key functions of an unsigned integer key type.
func UintKey[K ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr]() (func(K) string, func(string) (K, error)) {
	return func(k K) string { return strconv.FormatUint(uint64(k), 10) },
		func(s string) (K, error) {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || uint64(K(n)) != n {
				return 0, fmt.Errorf("%w: key %q is not a valid integer of the key type", backend.ErrCorrupt, s)
			}
			return K(n), nil
		}
}

// TextKey returns the key functions of a key type with MarshalText and
// UnmarshalText (uuid.UUID, netip.Addr): keys are stored as their text. A
// key whose MarshalText fails cannot be stored anywhere; that is a bug of
// the key's value, and KeyString panics with it.
func TextKey[K any, P interface {
	*K
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}]() (func(K) string, func(string) (K, error)) {
	return func(k K) string {
			b, err := P(&k).MarshalText()
			if err != nil {
				panic(fmt.Sprintf("livedict: key %v: MarshalText: %v", k, err))
			}
			return string(b)
		}, func(s string) (K, error) {
			var k K
			if err := P(&k).UnmarshalText([]byte(s)); err != nil {
				return k, fmt.Errorf("%w: key %q does not parse as %T: %v", backend.ErrCorrupt, s, k, err)
			}
			return k, nil
		}
}

// HexKey is the stored form of a [N]byte key: lowercase hex.
func HexKey(k []byte) string { return hex.EncodeToString(k) }

// ParseHexKey fills the [N]byte key k from its stored form.
func ParseHexKey(k []byte, s string) error {
	if len(s) != 2*len(k) {
		return fmt.Errorf("%w: key %q is not %d hex digits", backend.ErrCorrupt, s, 2*len(k))
	}
	if _, err := hex.Decode(k, []byte(s)); err != nil {
		return fmt.Errorf("%w: key %q is not hex: %v", backend.ErrCorrupt, s, err)
	}
	return nil
}
