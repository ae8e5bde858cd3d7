package conformance

import (
	"errors"
	"strings"
	"testing"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/engine"
)

// Note is a second value type, with no field in common with Item, for the
// tests of buckets that hold one type.
type Note struct {
	Text string
}

// NoteCodec is the codec of Note: string keys, the text as the record.
func NoteCodec() engine.Codec[string, Note] {
	keyString, parseKey := engine.StringKey[string]()
	return engine.Codec[string, Note]{
		TypeName:  "conformance.Note",
		Bucket:    "notes",
		KeyString: keyString,
		ParseKey:  parseKey,
		Append:    func(dst []byte, v *Note) ([]byte, error) { return append(dst, v.Text...), nil },
		Decode:    func(data []byte, v *Note) error { v.Text = string(data); return nil },
	}
}

// testBucketOneType: a bucket holds values of one type. A store of another
// type is refused it when it opens, with an error wrapping
// ErrInvalidOption that names the bucket and both types, while the first
// store is open and after it closed; stores of the first type open it
// again and find its data, and the other type opens a bucket of its own.
func testBucketOneType(t *testing.T, f *fixture) {
	f.needSharedBackend()
	items := f.store(livedict.WithBucket("typed"))
	set(t, items, "k", item("v", 1))
	openNote := func(bucket string) error {
		n, err := engine.New(NoteCodec(), livedict.WithClock(f.clk), livedict.WithLogger(f.log),
			livedict.WithBackend(f.be), livedict.WithBucket(bucket))
		if err == nil {
			if cerr := n.Close(); cerr != nil {
				t.Errorf("Close of the Note store: %v", cerr)
			}
		}
		return err
	}
	refused := func(when string) {
		t.Helper()
		err := openNote("typed")
		if !errors.Is(err, livedict.ErrInvalidOption) {
			t.Fatalf("%s: a Note store on the Item bucket: error %v, want one wrapping ErrInvalidOption", when, err)
		}
		for _, want := range []string{`"typed"`, "conformance.Item", "conformance.Note"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error %q does not name %s", when, err, want)
			}
		}
	}
	refused("while the Item store is open")
	closeStore(t, items)
	refused("after the Item store closed")

	again := f.store(livedict.WithBucket("typed"))
	wantValue(t, again, "k", item("v", 1))
	if err := openNote("typed-notes"); err != nil {
		t.Fatalf("a Note store on a bucket of its own: %v", err)
	}
}
