package sqlite

import (
	"context"
	"strings"

	"github.com/livedict/livedict/backend"
)

var _ backend.Batcher[string, []byte] = (*bucket)(nil)

// getManySizes are the sizes of the key lists GetMany reads in one
// statement. A shorter list is padded to the next size by repeating a key,
// so that a few statement texts, each prepared once per connection, serve
// every batch.
var getManySizes = [...]int{8, 64, 256}

// getManySQL holds, for each of getManySizes, the query of that many keys:
// the bucket, the keys, then now.
var getManySQL = func() map[int]string {
	m := make(map[int]string, len(getManySizes))
	for _, n := range getManySizes {
		m[n] = `SELECT key, value, ` + deadlineCol + `, version, ` + idleCol + ` FROM livedict_entries WHERE bucket = ? AND key IN (?` +
			strings.Repeat(", ?", n-1) + `) AND ` + live
	}
	return m
}()

// GetMany reads the keys with one statement per up to 256 keys, on a
// reader, or in one write transaction in an EvictLRU bucket, whose Get
// stamps the entry. A key given twice gets the same entry twice.
func (bk *bucket) GetMany(ctx context.Context, keys []string, now int64) ([]backend.Read[[]byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	if bk.lru {
		return bk.touchMany(ctx, keys, now)
	}
	out := make([]backend.Read[[]byte], len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	at := make(map[string][]int, len(keys)) // where each key's result goes
	for i, k := range keys {
		at[k] = append(at[k], i)
	}
	var odd []string // rows that do not scan as Get would have them
	args := make([]any, 0, 2+getManySizes[len(getManySizes)-1])
	for rest := keys; len(rest) > 0; {
		n := getManySizes[len(getManySizes)-1]
		for _, size := range getManySizes {
			if size >= len(rest) {
				n = size
				break
			}
		}
		chunk := rest[:min(n, len(rest))]
		rest = rest[len(chunk):]
		args = append(args[:0], bk.name)
		for i := range n {
			args = append(args, chunk[min(i, len(chunk)-1)])
		}
		args = append(args, now)
		var err error
		if odd, err = bk.readMany(ctx, getManySQL[n], args, at, out, odd); err != nil {
			return nil, bk.fail("GetMany", err)
		}
	}
	// A row whose version is not what this backend writes is read again
	// on its own, so that its result is Get's, to the letter.
	for _, k := range odd {
		e, found, err := bk.Get(ctx, k, now)
		for _, i := range at[k] {
			out[i] = backend.Read[[]byte]{Entry: e, Found: found, Err: err}
		}
	}
	return out, nil
}

// readMany runs one GetMany statement and fills in the results of the
// rows it returns; keys of rows that Get would read differently are
// appended to odd.
func (bk *bucket) readMany(ctx context.Context, query string, args []any, at map[string][]int, out []backend.Read[[]byte], odd []string) ([]string, error) {
	rows, err := bk.be.r.QueryContext(ctx, query, args...)
	if err != nil {
		return odd, err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var value []byte
		var deadline, idle int64
		var version any
		if err := rows.Scan(&key, &value, &deadline, &version, &idle); err != nil {
			return odd, err
		}
		idx := at[key]
		if len(idx) == 0 {
			continue
		}
		v, ok := version.(int64)
		if !ok || v < 0 {
			odd = append(odd, key)
			continue
		}
		r := backend.Read[[]byte]{Entry: backend.Entry[[]byte]{Value: nonNil(value), Deadline: deadline, Version: uint64(v), Idle: idle}, Found: true}
		if c := corrupt(key, r.Entry); c != nil {
			r = backend.Read[[]byte]{Err: c}
		}
		for j, i := range idx {
			if j > 0 && r.Found { // each result's value is its own
				r.Entry.Value = append([]byte{}, r.Entry.Value...)
			}
			out[i] = r
		}
	}
	return odd, rows.Err()
}

// touchMany is GetMany in an EvictLRU bucket: every key found is stamped
// as used, in input order, in one write transaction.
func (bk *bucket) touchMany(ctx context.Context, keys []string, now int64) ([]backend.Read[[]byte], error) {
	return bk.eachKey(ctx, "GetMany", keys, now, bk.touchTx, bk.getDone)
}

// eachKey runs body for each key, in order, in one write transaction, each
// key as a unit of work of its own (txn.sub), and gives each key the
// result done makes of what body returned.
func (bk *bucket) eachKey(ctx context.Context, op string, keys []string, now int64,
	body func(ctx context.Context, t *txn, key string, now int64) (backend.Entry[[]byte], bool, error),
	done func(key string, e backend.Entry[[]byte], found bool, err error) (backend.Entry[[]byte], bool, error),
) ([]backend.Read[[]byte], error) {
	out := make([]backend.Read[[]byte], len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		for i, k := range keys {
			r := &out[i]
			err, abort := t.sub(ctx, func(ctx context.Context, t *txn) error {
				var err error
				r.Entry, r.Found, err = body(ctx, t, k, now)
				return err
			})
			if abort != nil {
				return abort
			}
			r.Err = err
		}
		return nil
	})
	if err != nil {
		return nil, bk.fail(op, err)
	}
	for i, k := range keys {
		out[i].Entry, out[i].Found, out[i].Err = done(k, out[i].Entry, out[i].Found, out[i].Err)
	}
	return out, nil
}

// PutMany writes ws in one transaction, each key as Put would in its own
// savepoint (when it needs one), in input order.
func (bk *bucket) PutMany(ctx context.Context, ws []backend.KeyWrite[string, []byte], now int64) ([]backend.Written[string, []byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	out := make([]backend.Written[string, []byte], len(ws))
	if len(ws) == 0 {
		return out, nil
	}
	ps := make([]put, len(ws))
	err := bk.write(ctx, func(ctx context.Context, t *txn) error {
		for i := range ws {
			err, abort := t.sub(ctx, func(ctx context.Context, t *txn) error {
				return bk.putTx(ctx, t, ws[i].Key, ws[i].Write, now, &ps[i])
			})
			if abort != nil {
				return abort
			}
			out[i].Err = err
		}
		return nil
	})
	if err != nil {
		return nil, bk.fail("PutMany", err)
	}
	for i := range ws {
		out[i].Result, out[i].Err = bk.putDone(ws[i].Key, &ps[i], out[i].Err)
	}
	return out, nil
}

// DeleteMany deletes the keys in one transaction, each as Delete would, in
// input order: a key given twice is found the first time only.
func (bk *bucket) DeleteMany(ctx context.Context, keys []string, now int64) ([]backend.Read[[]byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	return bk.eachKey(ctx, "DeleteMany", keys, now, bk.deleteTx, bk.deleteDone)
}
