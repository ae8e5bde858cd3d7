package backend

import (
	"fmt"
	"reflect"
)

// TypeID is the identity of type T that buckets record (BucketConfig.Type):
// its package path and name, such as "example.com/app.Session", or for a
// type without a package (int, []byte) its Go spelling. It names the type,
// not its fields, so a type whose fields change keeps its buckets (schema
// evolution); a type that is renamed or moves to another package is
// another type.
func TypeID[T any]() string {
	t := reflect.TypeFor[T]()
	if t.PkgPath() == "" || t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// WrongType is the error of opening bucket, which holds values of type
// recorded, for values of type opening. It wraps ErrInvalidOption: two
// stores of different types were given one bucket name.
func WrongType(bucket, recorded, opening string) error {
	return fmt.Errorf("%w: bucket %q holds values of type %s, not %s: give the store of %s a bucket of its own (WithBucket)",
		ErrInvalidOption, bucket, recorded, opening, opening)
}
