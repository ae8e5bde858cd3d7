package engine

import (
	"context"
	"iter"
)

// All returns an iterator over the live keys and values, and a function
// that reports, once the loop is over, what Range would have returned: the
// error that ended the loop early, or the records that did not decode
// (skipped, reported after the others were visited). SQLite and Redis read
// the keys in pages, so a loop over a million keys never holds them all;
// the loop body may call the store, and keys written during the loop may
// or may not be seen. Run one loop at a time over one iterator.
func (s *Store[K, V]) All(ctx context.Context) (iter.Seq2[K, V], func() error) {
	var err error
	return func(yield func(K, V) bool) {
		err = s.Range(ctx, yield)
	}, func() error { return err }
}

// AllKeys is All for the keys alone.
func (s *Store[K, V]) AllKeys(ctx context.Context) (iter.Seq[K], func() error) {
	var err error
	return func(yield func(K) bool) {
		err = s.Range(ctx, func(k K, _ V) bool { return yield(k) })
	}, func() error { return err }
}
