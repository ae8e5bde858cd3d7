package engine

import (
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
