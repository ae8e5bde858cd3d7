package backend

import (
	"errors"
	"fmt"
)

// CorruptRecord is a stored record a byte backend cannot read as one of its
// entries: its deadline or version is not a number, or the backend's slot
// for the key holds something of another type. It matches ErrCorrupt. The
// store wraps it in a livedict.RecordError naming the bucket.
//
// What the backend operations do with such a record:
//
//   - Get returns the zero Entry, false and a *CorruptRecord (it cannot tell
//     whether the record is live), and Range visits the other entries and
//     returns the corrupt ones joined, after them.
//   - Put over it replaces it (the write brings a whole entry, nothing of the
//     old one is needed) and reports it in WriteResult.Replaced, unless the
//     write needs the old entry (KeepTTL, Conditional): then it fails with a
//     *CorruptRecord and changes nothing.
//   - Delete removes it and returns the zero Entry, true and a
//     *CorruptRecord: the key is gone, its value could not be read.
//   - SweepExpired skips it and leaves it in place; the other due entries
//     still move. It returns how many moved with an error joining one
//     *CorruptRecord per skipped key, and nothing else (a failure of the
//     backend is returned alone, as before). A backend reports a skipped
//     record at least once and may report it again on later sweeps; it must
//     not let such a record hold back the sweep of others, nor report it as
//     the next deadline.
type CorruptRecord struct {
	Key    string
	Reason string
}

func (e *CorruptRecord) Error() string {
	return fmt.Sprintf("%v: key %q: %s", ErrCorrupt, e.Key, e.Reason)
}

// Is makes a CorruptRecord match ErrCorrupt.
func (e *CorruptRecord) Is(target error) bool { return target == ErrCorrupt }

// SplitCorrupt takes the *CorruptRecord errors out of err (a single one or
// a tree of errors.Join) and returns them with the rest, nil when there is
// none.
func SplitCorrupt(err error) (recs []*CorruptRecord, rest error) {
	if err == nil {
		return nil, nil
	}
	var others []error
	var walk func(error)
	walk = func(e error) {
		if c, ok := e.(*CorruptRecord); ok {
			recs = append(recs, c)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		others = append(others, e)
	}
	walk(err)
	return recs, errors.Join(others...)
}
