package engine

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/internal/impl"
)

// Codec is what generated code supplies for one annotated type: its
// defaults, how to copy a value, and how to turn keys and values into bytes
// for SQLite and Redis.
type Codec[K comparable, V any] struct {
	TypeName   string        // the Go type, for messages
	Bucket     string        // default bucket name
	DefaultTTL time.Duration // from the directive; 0 means none
	// DefaultIdle is the directive's idle=: a Set without options stores a
	// sliding value (livedict.Idle). 0 means none; at most one of it and
	// DefaultTTL is set.
	DefaultIdle time.Duration

	// Clone deep-copies a value; nil means V holds no references.
	Clone func(V) V
	// CloneNormalizes says Clone only normalizes a value (drops the
	// monotonic readings of its times, zeroes its skipped fields): a value
	// Clone returned is handed out again by assignment.
	CloneNormalizes bool
	// NoCopies is the directive's copy=false: the type's stores keep and
	// hand out values as given, as with livedict.WithoutCopies.
	NoCopies bool

	// KeyString and ParseKey map keys to the strings byte backends store.
	KeyString func(K) string
	ParseKey  func(string) (K, error)
	// Append appends the encoding of *v to dst, or returns an error when *v
	// cannot be encoded (a marshaler failed, a pointer cycle); Decode sets
	// *v from data and returns an error wrapping ErrCorrupt or ErrSchema
	// when it cannot. The generated Decode may reuse the memory *v holds
	// (runtime.DecodeInto); the engine always passes a zero value.
	Append func(dst []byte, v *V) ([]byte, error)
	Decode func(data []byte, v *V) error
}

// codecBucket presents a byte bucket as a typed one: the path of SQLite and
// Redis. Records that do not decode are reported with their key and left
// where they are.
type codecBucket[K comparable, V any] struct {
	raw    backend.Bucket[string, []byte]
	c      Codec[K, V]
	name   string
	aeads  []cipher.AEAD // first encrypts; all decrypt
	logger *slog.Logger
	// corrupt, when set, reports an unreadable record the background work
	// met, once per key (see Store.reportCorrupt).
	corrupt func(key, msg string, err error)
	// sizeHint is the capacity to give the next record's buffer: a little
	// over the last record's length, so that encoding allocates once
	// instead of growing its buffer from nothing.
	sizeHint atomic.Int64
}

func newCodecBucket[K comparable, V any](raw backend.Bucket[string, []byte], c Codec[K, V], cfg *impl.Config) (*codecBucket[K, V], error) {
	if c.KeyString == nil || c.ParseKey == nil || c.Append == nil || c.Decode == nil {
		return nil, fmt.Errorf("%w: type %s has no serializer; byte backends need the code livedictgen generates",
			backend.ErrInvalidOption, c.TypeName)
	}
	cb := &codecBucket[K, V]{raw: raw, c: c, name: cfg.Bucket, logger: cfg.Logger}
	for _, k := range cfg.CipherKeys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: WithCipher: %v", backend.ErrInvalidOption, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: WithCipher: %v", backend.ErrInvalidOption, err)
		}
		cb.aeads = append(cb.aeads, aead)
	}
	return cb, nil
}

// sealedV1 starts every encrypted record, so a plain record is told apart.
const sealedV1 = 0xE1

func (b *codecBucket[K, V]) aad(key string) []byte {
	return append(append([]byte(b.name), 0), key...)
}

func (b *codecBucket[K, V]) encode(key string, v *V) ([]byte, error) {
	plain, err := b.c.Append(make([]byte, 0, b.sizeHint.Load()), v)
	if err != nil {
		return nil, fmt.Errorf("bucket %q, key %q: %w", b.name, key, err)
	}
	b.sizeHint.Store(int64(len(plain) + len(plain)/8))
	if len(b.aeads) == 0 {
		return plain, nil
	}
	aead := b.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealedV1
	if _, err := rand.Read(out[1:]); err != nil {
		panic("livedict: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, b.aad(key)), nil
}

func (b *codecBucket[K, V]) decode(key string, data []byte) (V, error) {
	var v V
	if len(b.aeads) > 0 {
		if len(data) == 0 || data[0] != sealedV1 {
			return v, b.recordErr(key, fmt.Errorf("%w: record is not encrypted but the store has a cipher", backend.ErrCorrupt))
		}
		var plain []byte
		opened := false
		for _, aead := range b.aeads {
			ns := aead.NonceSize()
			if len(data) < 1+ns+aead.Overhead() {
				continue
			}
			p, err := aead.Open(nil, data[1:1+ns], data[1+ns:], b.aad(key))
			if err == nil {
				plain, opened = p, true
				break
			}
		}
		if !opened {
			return v, b.recordErr(key, fmt.Errorf("%w: record does not decrypt with any key, or belongs to another key or bucket", backend.ErrCorrupt))
		}
		data = plain
	}
	if err := b.c.Decode(data, &v); err != nil {
		if !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
			err = fmt.Errorf("%w: %w", backend.ErrCorrupt, err)
		}
		return v, b.recordErr(key, err)
	}
	return v, nil
}

func (b *codecBucket[K, V]) recordErr(key string, err error) error {
	return &livedict.RecordError{Bucket: b.name, Key: key, Err: err}
}

// backendErr turns a record the backend could not read (a
// backend.CorruptRecord) into a RecordError naming the bucket and key;
// other errors pass unchanged.
func (b *codecBucket[K, V]) backendErr(key string, err error) error {
	var c *backend.CorruptRecord
	if err != nil && errors.As(err, &c) {
		var re *livedict.RecordError
		if errors.As(err, &re) {
			return err
		}
		return b.recordErr(key, err)
	}
	return err
}

func (b *codecBucket[K, V]) entry(key string, e backend.Entry[[]byte]) (backend.Entry[V], error) {
	v, err := b.decode(key, e.Value)
	return backend.Entry[V]{Value: v, Deadline: e.Deadline, Version: e.Version, Idle: e.Idle}, err
}

func (b *codecBucket[K, V]) Get(ctx context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	ks := b.c.KeyString(key)
	e, ok, err := b.raw.Get(ctx, ks, now)
	return b.gotten(ks, e, ok, err)
}

// gotten turns the raw bucket's answer to a Get of ks into the typed one.
func (b *codecBucket[K, V]) gotten(ks string, e backend.Entry[[]byte], ok bool, err error) (backend.Entry[V], bool, error) {
	if err != nil || !ok {
		return backend.Entry[V]{}, false, b.backendErr(ks, err)
	}
	te, err := b.entry(ks, e)
	if err != nil {
		return backend.Entry[V]{}, false, err
	}
	return te, true, nil
}

func (b *codecBucket[K, V]) Put(ctx context.Context, key K, w backend.Write[V], now int64) (backend.WriteResult[K, V], error) {
	ks := b.c.KeyString(key)
	raw, err := b.rawWrite(ks, w)
	if err != nil {
		return backend.WriteResult[K, V]{}, err
	}
	r, err := b.raw.Put(ctx, ks, raw, now)
	return b.written(key, ks, r, err)
}

// rawWrite encodes w for the raw bucket.
func (b *codecBucket[K, V]) rawWrite(ks string, w backend.Write[V]) (backend.Write[[]byte], error) {
	val, err := b.encode(ks, &w.Value)
	if err != nil {
		return backend.Write[[]byte]{}, err
	}
	return backend.Write[[]byte]{
		Value: val, Deadline: w.Deadline, Idle: w.Idle, KeepTTL: w.KeepTTL,
		Conditional: w.Conditional, IfVersion: w.IfVersion,
		WantPrev: w.WantPrev, ClaimDisplaced: w.ClaimDisplaced,
	}, nil
}

// written turns the raw bucket's answer to a Put of key (ks) into the
// typed one.
func (b *codecBucket[K, V]) written(key K, ks string, r backend.WriteResult[string, []byte], err error) (backend.WriteResult[K, V], error) {
	err = b.backendErr(ks, err)
	if r.Replaced != nil {
		// The user's write replaces what could not be read; the old bytes
		// are gone, so say so.
		b.logger.Warn("livedict: replaced a record that could not be read", "err", b.recordErr(ks, r.Replaced))
	}
	// A Put that fails with a conflict or the limit may still have
	// displaced an expired entry: that is reported with the error.
	res := backend.WriteResult[K, V]{Existed: r.Existed, ExpiredMoved: r.ExpiredMoved}
	if d := r.Displaced; d != nil {
		if v, derr := b.decode(d.Key, d.Value); derr != nil {
			// Like a claimed event that does not decode: it stays in the
			// outbox, unacknowledged, until the retention or a fix.
			b.logger.Error("livedict: expired record does not decode; left in the outbox", "bucket", b.name, "key", d.Key, "err", derr)
		} else {
			res.Displaced = &backend.Expired[K, V]{ID: d.ID, Key: key, Value: v, Deadline: d.Deadline}
		}
	}
	if err != nil {
		return res, err
	}
	if r.Existed {
		// The write succeeded; a previous value that does not decode only
		// costs its hook the value, so it is logged rather than returned.
		var derr error
		if res.Prev, derr = b.entry(ks, r.Prev); derr != nil {
			b.logger.Warn("livedict: replaced a record that did not decode", "err", derr)
		}
	}
	for _, kv := range r.Evicted {
		ek, kerr := b.c.ParseKey(kv.Key)
		e, derr := b.entry(kv.Key, kv.Entry)
		if err := errors.Join(kerr, derr); err != nil {
			b.logger.Warn("livedict: evicted a record that did not decode", "bucket", b.name, "key", kv.Key, "err", err)
			continue
		}
		res.Evicted = append(res.Evicted, backend.KV[K, V]{Key: ek, Entry: e})
	}
	return res, nil
}

func (b *codecBucket[K, V]) Delete(ctx context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	ks := b.c.KeyString(key)
	e, ok, err := b.raw.Delete(ctx, ks, now)
	return b.deleted(ks, e, ok, err)
}

// deleted turns the raw bucket's answer to a Delete of ks into the typed
// one.
func (b *codecBucket[K, V]) deleted(ks string, e backend.Entry[[]byte], ok bool, err error) (backend.Entry[V], bool, error) {
	if err != nil || !ok {
		// A record the backend could not read is deleted all the same
		// (ok is true): the error says its value is unknown.
		return backend.Entry[V]{}, ok, b.backendErr(ks, err)
	}
	te, derr := b.entry(ks, e)
	if derr != nil {
		// Deleted, as asked; the value is unknown, so no OnDelete hook
		// gets one: the caller sees the error.
		return backend.Entry[V]{}, true, derr
	}
	return te, true, nil
}

// keyStrings maps keys to the raw bucket's.
func (b *codecBucket[K, V]) keyStrings(keys []K) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = b.c.KeyString(k)
	}
	return out
}

func (b *codecBucket[K, V]) GetMany(ctx context.Context, keys []K, now int64) ([]backend.Read[V], error) {
	kss := b.keyStrings(keys)
	raw, err := getMany(ctx, b.raw, kss, now)
	if err != nil {
		return nil, err
	}
	out := make([]backend.Read[V], len(raw))
	for i, r := range raw {
		out[i].Entry, out[i].Found, out[i].Err = b.gotten(kss[i], r.Entry, r.Found, r.Err)
	}
	return out, nil
}

func (b *codecBucket[K, V]) PutMany(ctx context.Context, ws []backend.KeyWrite[K, V], now int64) ([]backend.Written[K, V], error) {
	out := make([]backend.Written[K, V], len(ws))
	// Values that do not encode fail on their own; the rest go in one batch.
	raws := make([]backend.KeyWrite[string, []byte], 0, len(ws))
	at := make([]int, 0, len(ws))
	for i, w := range ws {
		ks := b.c.KeyString(w.Key)
		raw, err := b.rawWrite(ks, w.Write)
		if err != nil {
			out[i].Err = err
			continue
		}
		raws = append(raws, backend.KeyWrite[string, []byte]{Key: ks, Write: raw})
		at = append(at, i)
	}
	res, err := putMany(ctx, b.raw, raws, now)
	if err != nil {
		return nil, err
	}
	for j, r := range res {
		i := at[j]
		out[i].Result, out[i].Err = b.written(ws[i].Key, raws[j].Key, r.Result, r.Err)
	}
	return out, nil
}

func (b *codecBucket[K, V]) DeleteMany(ctx context.Context, keys []K, now int64) ([]backend.Read[V], error) {
	kss := b.keyStrings(keys)
	raw, err := deleteMany(ctx, b.raw, kss, now)
	if err != nil {
		return nil, err
	}
	out := make([]backend.Read[V], len(raw))
	for i, r := range raw {
		out[i].Entry, out[i].Found, out[i].Err = b.deleted(kss[i], r.Entry, r.Found, r.Err)
	}
	return out, nil
}

func (b *codecBucket[K, V]) DeleteIf(ctx context.Context, key K, version uint64, now int64) error {
	ks := b.c.KeyString(key)
	return b.backendErr(ks, b.raw.DeleteIf(ctx, ks, version, now))
}

func (b *codecBucket[K, V]) Touch(ctx context.Context, key K, now int64) (bool, error) {
	ks := b.c.KeyString(key)
	ok, err := b.raw.Touch(ctx, ks, now)
	return ok, b.backendErr(ks, err)
}

func (b *codecBucket[K, V]) Retime(ctx context.Context, key K, deadline, idle int64, now int64) (bool, error) {
	ks := b.c.KeyString(key)
	ok, err := b.raw.Retime(ctx, ks, deadline, idle, now)
	return ok, b.backendErr(ks, err)
}

func (b *codecBucket[K, V]) Len(ctx context.Context, now int64) (int, error) {
	return b.raw.Len(ctx, now)
}

// Range skips records that do not decode and returns them, joined, after
// visiting the rest: one bad record does not hide the others.
func (b *codecBucket[K, V]) Range(ctx context.Context, now int64, fn func(K, backend.Entry[V]) bool) error {
	var bad []error
	err := b.raw.Range(ctx, now, func(ks string, e backend.Entry[[]byte]) bool {
		k, kerr := b.c.ParseKey(ks)
		if kerr != nil {
			bad = append(bad, b.recordErr(ks, kerr))
			return true
		}
		te, derr := b.entry(ks, e)
		if derr != nil {
			bad = append(bad, derr)
			return true
		}
		return fn(k, te)
	})
	recs, err := backend.SplitCorrupt(err)
	for _, c := range recs {
		bad = append(bad, b.recordErr(c.Key, c))
	}
	return errors.Join(append([]error{err}, bad...)...)
}

func (b *codecBucket[K, V]) Clear(ctx context.Context, now int64) error { return b.raw.Clear(ctx, now) }

func (b *codecBucket[K, V]) NextDeadline(ctx context.Context) (int64, bool, error) {
	return b.raw.NextDeadline(ctx)
}

// SweepExpired passes the records the backend skipped on as RecordErrors
// (joined), still alone in the error, so that the scheduler tells them from
// a failure with backend.SplitCorrupt.
func (b *codecBucket[K, V]) SweepExpired(ctx context.Context, now int64, max int) (int, error) {
	n, err := b.raw.SweepExpired(ctx, now, max)
	return n, err
}

// ClaimExpired leaves events that do not decode unacknowledged in the
// outbox (they are logged): the data is kept, and the retention limit
// bounds how long.
func (b *codecBucket[K, V]) ClaimExpired(ctx context.Context, now int64, max int, lease time.Duration) ([]backend.Expired[K, V], error) {
	raw, err := b.raw.ClaimExpired(ctx, now, max, lease)
	if err != nil {
		return nil, err
	}
	out := make([]backend.Expired[K, V], 0, len(raw))
	for _, ev := range raw {
		k, kerr := b.c.ParseKey(ev.Key)
		v, derr := b.decode(ev.Key, ev.Value)
		if err := errors.Join(kerr, derr); err != nil {
			if b.corrupt != nil {
				b.corrupt(ev.Key, "livedict: expired record does not decode; left in the outbox", err)
			} else {
				b.logger.Error("livedict: expired record does not decode; left in the outbox", "bucket", b.name, "key", ev.Key, "err", err)
			}
			continue
		}
		out = append(out, backend.Expired[K, V]{ID: ev.ID, Key: k, Value: v, Deadline: ev.Deadline})
	}
	return out, nil
}

func (b *codecBucket[K, V]) AckExpired(ctx context.Context, ids []string) error {
	return b.raw.AckExpired(ctx, ids)
}

func (b *codecBucket[K, V]) ExtendClaims(ctx context.Context, ids []string, lease time.Duration, now int64) error {
	return b.raw.ExtendClaims(ctx, ids, lease, now)
}

func (b *codecBucket[K, V]) DroppedExpired() uint64 { return b.raw.DroppedExpired() }

func (b *codecBucket[K, V]) TryLock(ctx context.Context, key K, owner string, lease time.Duration, now int64) (uint64, bool, int64, error) {
	return b.raw.TryLock(ctx, b.c.KeyString(key), owner, lease, now)
}

func (b *codecBucket[K, V]) Unlock(ctx context.Context, key K, owner string, now int64) error {
	return b.raw.Unlock(ctx, b.c.KeyString(key), owner, now)
}

func (b *codecBucket[K, V]) ExtendLock(ctx context.Context, key K, owner string, lease time.Duration, now int64) error {
	return b.raw.ExtendLock(ctx, b.c.KeyString(key), owner, lease, now)
}

func (b *codecBucket[K, V]) Close() error { return b.raw.Close() }
