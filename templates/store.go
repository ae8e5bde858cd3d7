package templates

import (
	"fmt"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/livedict/livedict/runtime"
)

const (
	livedictPath = "github.com/livedict/livedict"
	runtimePath  = "github.com/livedict/livedict/runtime"
)

// runtimeVersion is the runtime version generated code is written for: the
// runtime's own, taken when the generator is built. The file's compile-time
// guard checks it against the runtime the user's program links with.
const runtimeVersion = runtime.Version

// storeNames are the names one store declares, derived from its store name.
type storeNames struct {
	store, async, ctor, codec string
}

func namesOf(st *Store) storeNames {
	return storeNames{
		store: st.StoreName,
		async: st.StoreName + "Async",
		ctor:  "New" + st.StoreName,
		codec: "livedictCodec" + st.TypeName,
	}
}

// DeclaredNames lists the package-level names the file of st declares, so
// the generator can report a collision with the user's own declarations.
func DeclaredNames(st *Store) []string {
	n := namesOf(st)
	return []string{n.store, n.async, n.ctor, n.codec}
}

// storeDecls emits everything one store adds to the package: the codec
// value, the store type with its methods, and the async view.
func storeDecls(f *File, st *Store) []jen.Code {
	n := namesOf(st)
	var out []jen.Code
	out = append(out, codecVar(f, st, n), storeType(st, n), constructor(st, n))
	out = append(out, storeMethodDecls(st, n)...)
	out = append(out, asyncType(st, n))
	out = append(out, asyncMethodDecls(st, n)...)
	return out
}

func keyType(st *Store) jen.Code   { return goType(st.Key) }
func valueType(st *Store) jen.Code { return jen.Id(st.TypeName) }

func rt(name string) *jen.Statement { return jen.Qual(runtimePath, name) }
func ld(name string) *jen.Statement { return jen.Qual(livedictPath, name) }

// generic returns name[K, V] of the runtime package.
func generic(st *Store, name string) *jen.Statement {
	return rt(name).Types(keyType(st), valueType(st))
}

func ctxParam() jen.Code { return jen.Id("ctx").Qual("context", "Context") }
func keyParam(st *Store) jen.Code {
	return jen.Id("key").Add(keyType(st))
}

// keyFuncs sets c.KeyString and c.ParseKey, which map this store's keys to
// the text SQLite rows and Redis keys hold: a string as it is, an integer
// in decimal, a TextMarshaler as its text, a [N]byte array in lowercase hex.
func keyFuncs(st *Store) jen.Code {
	c := jen.List(jen.Id("c").Dot("KeyString"), jen.Id("c").Dot("ParseKey"))
	helper := ""
	switch st.Key.Kind {
	case String:
		helper = "StringKey"
	case Int, Int8, Int16, Int32, Int64:
		helper = "IntKey"
	case Uint, Uint8, Uint16, Uint32, Uint64, Uintptr:
		helper = "UintKey"
	case TextMarshaler:
		helper = "TextKey"
	case Array:
		k := jen.Id("k")
		return jen.List(jen.Id("c").Dot("KeyString"), jen.Id("c").Dot("ParseKey")).Op("=").
			Func().Params(jen.Add(k).Add(keyType(st))).String().Block(jen.Return(rt("HexKey").Call(k.Clone().Index(jen.Empty(), jen.Empty())))).Op(",").
			Func().Params(jen.Id("s").String()).Params(keyType(st), jen.Error()).Block(
			jen.Var().Add(k).Add(keyType(st)),
			jen.Err().Op(":=").Add(rt("ParseHexKey")).Call(jen.Id("k").Index(jen.Empty(), jen.Empty()), jen.Id("s")),
			jen.Return(jen.Id("k"), jen.Err()),
		)
	}
	return c.Op("=").Add(rt(helper)).Types(keyType(st)).Call()
}

func codecVar(f *File, st *Store, n storeNames) jen.Code {
	fields := jen.Dict{
		jen.Id("TypeName"): jen.Lit(st.TypeName),
		jen.Id("Bucket"):   jen.Lit(st.Bucket),
		jen.Id("Append"): jen.Func().Params(jen.Id("dst").Index().Byte(), jen.Id("v").Op("*").Add(valueType(st))).
			Params(jen.Index().Byte(), jen.Error()).Block(
			jen.Return(rt("Encode").Call(jen.Id("dst"), jen.Id("v"), jen.Id("livedictAppend"+st.TypeName)))),
		jen.Id("Decode"): jen.Func().Params(jen.Id("data").Index().Byte(), jen.Id("v").Op("*").Add(valueType(st))).
			Error().Block(
			jen.Return(rt("DecodeInto").Call(jen.Id("data"), jen.Id("v"), jen.Id("livedictDecode"+st.TypeName)))),
	}
	if st.TTL > 0 {
		fields[jen.Id("DefaultTTL")] = durationLit(st.TTL)
	}
	if st.Idle > 0 {
		fields[jen.Id("DefaultIdle")] = durationLit(st.Idle)
	}
	if st.NoCopies {
		fields[jen.Id("NoCopies")] = jen.True()
	}
	// A value without references is copied by assignment: no Clone call on
	// the memory backend's hot path.
	for _, s := range f.Structs {
		if s.ID == st.TypeName && structHasRefs(f, s) {
			fields[jen.Id("Clone")] = jen.Id("livedictClone" + st.TypeName)
			if !structShares(f, s) {
				fields[jen.Id("CloneNormalizes")] = jen.True()
			}
		}
	}
	return jen.Var().Id(n.codec).Op("=").Func().Params().Add(generic(st, "Codec")).Block(
		jen.Id("c").Op(":=").Add(generic(st, "Codec")).Values(fields),
		keyFuncs(st),
		jen.Return(jen.Id("c")),
	).Call()
}

// durationLit writes d the way a person would: 30 * time.Minute.
func durationLit(d time.Duration) jen.Code {
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}}
	for _, u := range units {
		if d%u.d == 0 {
			return jen.Lit(int(d/u.d)).Op("*").Qual("time", u.name)
		}
	}
	return jen.Qual("time", "Duration").Call(jen.Lit(int64(d)))
}

func storeType(st *Store, n storeNames) jen.Code {
	return doc("%s is a typed, TTL-aware store of %s values under %s keys.\n"+
		"Every method is safe for concurrent use; ctx cancels waiting and I/O.", n.store, st.TypeName, keyTypeName(st)).
		Type().Id(n.store).Struct(jen.Id("s").Op("*").Add(generic(st, "Store")))
}

// doc starts a declaration with a // comment of one or more lines; a line
// longer than docWidth is wrapped at spaces.
func doc(format string, args ...any) *jen.Statement {
	s := &jen.Statement{}
	for _, para := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		// Each line is joined once from its words: a store has dozens of
		// doc comments, and a file may hold a hundred stores.
		var words []string
		n := 0 // the length of the line the words make
		for _, w := range strings.Fields(para) {
			if n > 0 && n+1+len(w) > docWidth {
				s.Comment(strings.Join(words, " ")).Line()
				words, n = words[:0], 0
			}
			if n > 0 {
				n++
			}
			n += len(w)
			words = append(words, w)
		}
		s.Comment(strings.Join(words, " ")).Line()
	}
	return s
}

const docWidth = 76

func keyTypeName(st *Store) string {
	if st.Key.Named != nil {
		return st.Key.Named.Name
	}
	return kindNames[st.Key.Kind]
}

func constructor(st *Store, n storeNames) jen.Code {
	text := fmt.Sprintf("%s opens a store of %s values in bucket %q", n.ctor, st.TypeName, st.Bucket)
	if st.TTL > 0 {
		text += fmt.Sprintf(",\nwith a default TTL of %v", st.TTL)
	}
	text += ".\nWithout options it uses a private in-memory backend; see livedict.WithURI."
	return doc("%s", text).
		Func().Id(n.ctor).Params(jen.Id("opts").Op("...").Add(ld("Option"))).
		Params(jen.Op("*").Id(n.store), jen.Error()).Block(
		jen.List(jen.Id("s"), jen.Err()).Op(":=").Add(rt("New")).Call(jen.Id(n.codec), jen.Id("opts").Op("...")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Return(jen.Op("&").Id(n.store).Values(jen.Dict{jen.Id("s"): jen.Id("s")}), jen.Nil()),
	)
}

// method is one method of a generated store: its doc (after the name),
// parameters, results, the arguments it forwards to the engine's method of
// the same name, and, for the operations the Async view offers, the type
// its Future holds.
//
// storeMethods is the one list of a store's methods: the emitter writes the
// wrappers from it, and TestMethodParity checks the engine's methods, their
// docs and the generated wrappers against each other.
type method struct {
	name    string
	doc     string
	params  []jen.Code
	results []jen.Code
	args    []jen.Code
	future  jen.Code
}

func hookFn(st *Store) jen.Code {
	return jen.Func().Params(ctxParam(), keyParam(st), jen.Id("v").Add(valueType(st)))
}

func updateFn(st *Store) jen.Code {
	return jen.Func().Params(jen.Id("cur").Add(valueType(st)), jen.Id("exists").Bool()).
		Params(jen.Id("next").Add(valueType(st)), jen.Id("keep").Bool(), jen.Err().Error())
}

// hookOptionsDoc ends the doc of every hook registration.
const hookOptionsDoc = " Options: livedict.HookTimeout, Inline, HookName and the store's ForKey; a bad one is an error wrapping livedict.ErrInvalidOption."

func storeMethods(st *Store) []method {
	ctx, key, v, fn := jen.Id("ctx"), jen.Id("key"), jen.Id("v"), jen.Id("fn")
	opts := jen.Id("opts").Op("...")
	optsOf := func(name string) jen.Code { return jen.Id("opts").Op("...").Add(ld(name)) }
	keyArgs := []jen.Code{ctxParam(), keyParam(st)}
	done, lookup := jen.Struct(), func(t jen.Code) jen.Code { return ld("Lookup").Types(t) }
	hook := func(name, doc string) method {
		return method{name: name, doc: doc + hookOptionsDoc,
			params:  []jen.Code{jen.Id("fn").Add(hookFn(st)), optsOf("HookOption")},
			results: []jen.Code{ld("HookID"), jen.Error()}, args: []jen.Code{fn, opts}}
	}
	return []method{
		{name: "Set", doc: "stores v under key. The value is copied: changing v afterwards does not change what is stored. With no option the store's default TTL applies; livedict.TTL, NoExpiry or KeepTTL overrides it.",
			params: []jen.Code{ctxParam(), keyParam(st), jen.Id("v").Add(valueType(st)), optsOf("SetOption")}, results: []jen.Code{jen.Error()},
			args: []jen.Code{ctx, key, v, opts}, future: done},
		{name: "Get", doc: "returns the value of key, and false when there is none or it expired. With WithLoader, a miss loads the value instead, as GetOrLoad does.",
			params: keyArgs, results: []jen.Code{valueType(st), jen.Bool(), jen.Error()}, args: []jen.Code{ctx, key}, future: lookup(valueType(st))},
		{name: "Delete", doc: "removes key and reports whether it held a live value, which OnDelete hooks receive. A record the store cannot read is removed too (the caller asked for it), and Delete returns true with an error matching ErrCorrupt that names the key; no OnDelete hook runs, having no value.",
			params: keyArgs, results: []jen.Code{jen.Bool(), jen.Error()}, args: []jen.Code{ctx, key}, future: jen.Bool()},
		{name: "Has", doc: "reports whether key holds a live value. For a record the store cannot read it returns false and an error matching ErrCorrupt that names the key, as Get does: whether it is live is unknown.",
			params: keyArgs, results: []jen.Code{jen.Bool(), jen.Error()}, args: []jen.Code{ctx, key}, future: jen.Bool()},
		{name: "TTL", doc: "returns how long key has left, in whole milliseconds rounded down (at least 1ms), never more than the TTL it was set with (rounded up to a whole millisecond): 0 and true when it never expires, false when there is no such key.",
			params: keyArgs, results: []jen.Code{jen.Qual("time", "Duration"), jen.Bool(), jen.Error()}, args: []jen.Code{ctx, key},
			future: lookup(jen.Qual("time", "Duration"))},
		{name: "Touch", doc: "pushes the deadline of a sliding key (one set with livedict.Idle, or under a default idle time) to its idle time from now, without rewriting its value, and reports whether key holds a live value. A key with a fixed deadline keeps it (Expire changes it). No hook fires.",
			params: keyArgs, results: []jen.Code{jen.Bool(), jen.Error()}, args: []jen.Code{ctx, key}, future: jen.Bool()},
		{name: "Expire", doc: "gives the live value of key a new expiry without rewriting it, and reports whether there was one: livedict.TTL, Idle or NoExpiry, or without options the store's default, as Set would choose it (KeepTTL is an error wrapping ErrInvalidOption). No hook fires; OnExpire fires when the new deadline comes.",
			params: []jen.Code{ctxParam(), keyParam(st), optsOf("SetOption")}, results: []jen.Code{jen.Bool(), jen.Error()},
			args: []jen.Code{ctx, key, opts}, future: jen.Bool()},
		{name: "Update", doc: "applies fn to the current value of key atomically: fn sees the value (and whether there is one) and returns the next value, or keep false to delete the key. If another writer changes the key meanwhile, fn runs again on the new value, so fn must not have side effects it cannot repeat. An error from fn aborts the update and is returned as is.",
			params: []jen.Code{ctxParam(), keyParam(st), jen.Id("fn").Add(updateFn(st)), optsOf("SetOption")}, results: []jen.Code{jen.Error()},
			args: []jen.Code{ctx, key, fn, opts}, future: done},
		{name: "Len", doc: "returns the number of live keys.",
			params: []jen.Code{ctxParam()}, results: []jen.Code{jen.Int(), jen.Error()}, args: []jen.Code{ctx}, future: jen.Int()},
		{name: "Keys", doc: "returns the live keys, in no particular order.",
			params: []jen.Code{ctxParam()}, results: []jen.Code{jen.Index().Add(keyType(st)), jen.Error()}, args: []jen.Code{ctx},
			future: jen.Index().Add(keyType(st))},
		{name: "GetOrLoad", doc: "returns the value of key; on a miss it calls load, stores its value (with opts, as Set would: OnSet hooks fire) and returns it. Concurrent misses of key in this process share one call of load; on SQLite and Redis, misses in other processes wait for it too, through the key's lock (see Lock) taken with a 5s lease: a process that cannot get the lock within that lease, or within ctx, loads without it. load runs with ctx's values but not its cancellation, until the store closes: each caller waits for it as long as its own ctx allows. A failed load stores nothing, and every caller that waited for it gets its error; a panic in load is such an error, matching livedict.ErrLoadPanic. When storing the loaded value fails, GetOrLoad returns the value with that error.",
			params: []jen.Code{ctxParam(), keyParam(st),
				jen.Id("load").Func().Params(jen.Id("ctx").Qual("context", "Context"), jen.Id("key").Add(keyType(st))).Params(valueType(st), jen.Error()),
				optsOf("SetOption")},
			results: []jen.Code{valueType(st), jen.Error()}, args: []jen.Code{ctx, key, jen.Id("load"), opts}},
		{name: "GetMany", doc: "returns the values of keys, in their order: Found is false for a key with no live value. Each key is read as Get reads it, and OnGet hooks fire for each key found; on SQLite and Redis the keys go in one round trip. A key that could not be read has an empty Lookup and its error in the returned *livedict.BatchError; the other keys' results stand.",
			params:  []jen.Code{ctxParam(), jen.Id("keys").Index().Add(keyType(st))},
			results: []jen.Code{jen.Index().Add(lookup(valueType(st))), jen.Error()}, args: []jen.Code{ctx, jen.Id("keys")}},
		{name: "SetMany", doc: "sets each key of items to its value with opts, as Set would: each key on its own, not a transaction across keys. OnSet (and OnEvict, OnExpire for an expired entry a write displaced) fire per key as for Set. On SQLite the writes go in one transaction, on Redis in one round trip. A bad option fails the whole call before anything is written; keys whose write failed (ErrLimit, say) are in the returned *livedict.BatchError, and the others are written.",
			params:  []jen.Code{ctxParam(), jen.Id("items").Map(keyType(st)).Add(valueType(st)), optsOf("SetOption")},
			results: []jen.Code{jen.Error()}, args: []jen.Code{ctx, jen.Id("items"), opts}},
		{name: "DeleteMany", doc: "deletes keys, as Delete would, and reports for each, in their order, whether it held a live value; OnDelete fires for each deleted key. On SQLite the deletes go in one transaction, on Redis in one round trip. Keys whose delete failed are in the returned *livedict.BatchError.",
			params:  []jen.Code{ctxParam(), jen.Id("keys").Index().Add(keyType(st))},
			results: []jen.Code{jen.Index().Bool(), jen.Error()}, args: []jen.Code{ctx, jen.Id("keys")}},
		{name: "All", doc: "returns an iterator over the live keys and values, and a function that reports, once the loop is over, what Range would have returned: the error that ended the loop early, or the records that did not decode (skipped, reported after the others were visited). SQLite and Redis read the keys in pages, so a loop over a million keys never holds them all; the loop body may call the store, and keys written during the loop may or may not be seen. Run one loop at a time over one iterator.",
			params:  []jen.Code{ctxParam()},
			results: []jen.Code{jen.Qual("iter", "Seq2").Types(keyType(st), valueType(st)), jen.Func().Params().Error()}, args: []jen.Code{ctx}},
		{name: "AllKeys", doc: "is All for the keys alone.",
			params:  []jen.Code{ctxParam()},
			results: []jen.Code{jen.Qual("iter", "Seq").Types(keyType(st)), jen.Func().Params().Error()}, args: []jen.Code{ctx}},
		{name: "Range", doc: "calls fn for each live key and value until fn returns false; fn may call the store. A record that does not decode is skipped and reported in the returned error after the others were visited.",
			params:  []jen.Code{ctxParam(), jen.Id("fn").Func().Params(keyParam(st), jen.Id("v").Add(valueType(st))).Bool()},
			results: []jen.Code{jen.Error()}, args: []jen.Code{ctx, fn}},
		{name: "Clear", doc: "deletes every key of the store's bucket. It raises no OnDelete events, and it drops the bucket's pending expiry events too: keys that expired and whose OnExpire no store has started to deliver (because no hook listened, or the sweep had not reached them) never raise it.",
			params: []jen.Code{ctxParam()}, results: []jen.Code{jen.Error()}, args: []jen.Code{ctx}, future: done},
		{name: "Lock", doc: "waits until it holds key's advisory lock, or until ctx ends (livedict.ErrLockTimeout). The lock lasts for its lease (30s unless livedict.Lease says otherwise) unless it is released or extended first.",
			params: []jen.Code{ctxParam(), keyParam(st), optsOf("LockOption")}, results: []jen.Code{jen.Op("*").Add(ld("Lock")), jen.Error()},
			args: []jen.Code{ctx, key, opts}},
		{name: "TryLock", doc: "takes key's advisory lock if it is free, without waiting.",
			params: []jen.Code{ctxParam(), keyParam(st), optsOf("LockOption")}, results: []jen.Code{jen.Op("*").Add(ld("Lock")), jen.Bool(), jen.Error()},
			args: []jen.Code{ctx, key, opts}},
		hook("OnSet", "registers fn to run after each Set or Update that stores a value."),
		hook("OnGet", "registers fn to run after each Get that finds a value."),
		hook("OnDelete", "registers fn to run after each Delete (or Update) that removed a value, with that value."),
		hook("OnExpire", "registers fn to run once for each key that expires, with its last value. Expiries that happened before any OnExpire hook was registered are delivered to the first one (up to the retention limit)."),
		hook("OnEvict", "registers fn to run for each value the key limit pushed out."),
		{name: "OnChange", doc: "registers fn to run after each Set or Update that stores a value, as OnSet does, with the live value the write replaced and whether there was one. Writes ask the backend for that value only while an OnChange hook is registered." + hookOptionsDoc,
			params:  []jen.Code{jen.Id("fn").Func().Params(ctxParam(), keyParam(st), jen.Id("ch").Add(ld("Change").Types(valueType(st)))), optsOf("HookOption")},
			results: []jen.Code{ld("HookID"), jen.Error()}, args: []jen.Code{fn, opts}},
		{name: "SetHookEnabled", doc: "switches a hook on or off and reports whether it exists. Switching on also resets the hook's circuit breaker.",
			params: []jen.Code{jen.Id("id").Add(ld("HookID")), jen.Id("on").Bool()}, results: []jen.Code{jen.Bool()}, args: []jen.Code{jen.Id("id"), jen.Id("on")}},
		{name: "RemoveHook", doc: "unregisters a hook and reports whether it existed.",
			params: []jen.Code{jen.Id("id").Add(ld("HookID"))}, results: []jen.Code{jen.Bool()}, args: []jen.Code{jen.Id("id")}},
		{name: "Stats", doc: "returns the store's counters.", results: []jen.Code{ld("Stats")}},
		{name: "Close", doc: "stops the store: queued async operations and hook calls finish, the scheduler stops, and every goroutine the store started has exited when it returns. Close is idempotent; other methods return livedict.ErrClosed afterwards.",
			results: []jen.Code{jen.Error()}},
	}
}

// The methods a generated store has beyond the engine's: ForKey builds a
// hook option typed by the store's key, and Async wraps the engine's view.
const (
	forKeyDoc = "limits a hook to one key. Key-scoped hooks run before global ones."
	asyncDoc  = "returns the asynchronous view of the store: each operation returns a future at once; one key's operations from one goroutine take effect in order."
)

// asyncMethodDoc is the doc of the Async view's method name.
func asyncMethodDoc(name string) string { return "is the asynchronous " + name + "." }

func forward(recv, recvType, field, name, docText string, params, results, args []jen.Code) jen.Code {
	return doc("%s %s", name, docText).
		Func().Params(jen.Id(recv).Op("*").Id(recvType)).Id(name).Params(params...).Params(results...).
		Block(jen.Return(jen.Id(recv).Dot(field).Dot(name).Call(args...)))
}

func storeMethodDecls(st *Store, n storeNames) []jen.Code {
	var out []jen.Code
	for _, m := range storeMethods(st) {
		out = append(out, forward("s", n.store, "s", m.name, m.doc, m.params, m.results, m.args))
	}
	out = append(out,
		doc("ForKey %s", forKeyDoc).
			Func().Params(jen.Id("s").Op("*").Id(n.store)).Id("ForKey").Params(keyParam(st)).Add(ld("HookOption")).Block(
			jen.Return(rt("ForKey").Call(jen.Id("key")))),
		doc("Async %s", asyncDoc).
			Func().Params(jen.Id("s").Op("*").Id(n.store)).Id("Async").Params().Op("*").Id(n.async).Block(
			jen.Return(jen.Op("&").Id(n.async).Values(jen.Dict{jen.Id("a"): jen.Id("s").Dot("s").Dot("Async").Call()}))))
	return out
}

func asyncType(st *Store, n storeNames) jen.Code {
	return doc("%s is the asynchronous view of a %s.", n.async, n.store).
		Type().Id(n.async).Struct(jen.Id("a").Op("*").Add(generic(st, "AsyncStore")))
}

func asyncMethodDecls(st *Store, n storeNames) []jen.Code {
	var out []jen.Code
	for _, m := range storeMethods(st) {
		if m.future == nil {
			continue
		}
		result := jen.Op("*").Add(ld("Future")).Types(m.future)
		out = append(out, forward("a", n.async, "a", m.name, asyncMethodDoc(m.name), m.params, []jen.Code{result}, m.args))
	}
	return out
}
