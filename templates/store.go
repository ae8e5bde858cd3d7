package templates

import (
	"fmt"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"
)

const (
	livedictPath = "github.com/livedict/livedict"
	runtimePath  = "github.com/livedict/livedict/runtime"
)

// RuntimeVersion is the runtime version generated code is written for; the
// file's compile-time guard checks it against the runtime it links with.
const RuntimeVersion = 1

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

// StoreDecls emits everything one store adds to the package: the codec
// value, the store type with its methods, and the async view.
func StoreDecls(f *File, st *Store) []jen.Code {
	n := namesOf(st)
	var out []jen.Code
	out = append(out, codecVar(f, st, n), storeType(st, n), constructor(st, n))
	out = append(out, storeMethods(st, n)...)
	out = append(out, asyncType(st, n))
	out = append(out, asyncMethods(st, n)...)
	return out
}

func keyType(st *Store) jen.Code   { return GoType(st.Key) }
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

// keyFuncs is the runtime helper that maps this store's key type to text.
func keyFuncs(st *Store) string {
	switch st.Key.Kind {
	case String:
		return "StringKey"
	case Int, Int8, Int16, Int32, Int64:
		return "IntKey"
	}
	return "UintKey"
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
			jen.Return(rt("Decode").Call(jen.Id("data"), jen.Id("v"), jen.Id("livedictDecode"+st.TypeName)))),
	}
	if st.TTL > 0 {
		fields[jen.Id("DefaultTTL")] = durationLit(st.TTL)
	}
	// A value without references is copied by assignment: no Clone call on
	// the memory backend's hot path.
	for _, s := range f.Structs {
		if s.Name == st.TypeName && StructHasRefs(f, s) {
			fields[jen.Id("Clone")] = jen.Id("livedictClone" + st.TypeName)
		}
	}
	return jen.Var().Id(n.codec).Op("=").Func().Params().Add(generic(st, "Codec")).Block(
		jen.Id("c").Op(":=").Add(generic(st, "Codec")).Values(fields),
		jen.List(jen.Id("c").Dot("KeyString"), jen.Id("c").Dot("ParseKey")).Op("=").
			Add(rt(keyFuncs(st)).Types(keyType(st))).Call(),
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

// doc starts a declaration with a // comment of one or more lines.
func doc(format string, args ...any) *jen.Statement {
	s := &jen.Statement{}
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		s.Comment(line).Line()
	}
	return s
}

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

// method describes one forwarding method: its doc, parameters, results and
// the call it forwards to.
type method struct {
	name    string
	doc     string
	params  []jen.Code
	results []jen.Code
	args    []jen.Code // arguments of the forwarded call
}

func hookFn(st *Store) jen.Code {
	return jen.Func().Params(ctxParam(), keyParam(st), jen.Id("v").Add(valueType(st)))
}

func updateFn(st *Store) jen.Code {
	return jen.Func().Params(jen.Id("cur").Add(valueType(st)), jen.Id("exists").Bool()).
		Params(jen.Id("next").Add(valueType(st)), jen.Id("keep").Bool(), jen.Err().Error())
}

func storeMethodList(st *Store) []method {
	ctx, key := jen.Id("ctx"), jen.Id("key")
	setOpts := jen.Id("opts").Op("...").Add(ld("SetOption"))
	hookOpts := jen.Id("opts").Op("...").Add(ld("HookOption"))
	lockOpts := jen.Id("opts").Op("...").Add(ld("LockOption"))
	opts := jen.Id("opts").Op("...")
	hook := func(name, doc string) method {
		return method{name, doc, []jen.Code{jen.Id("fn").Add(hookFn(st)), hookOpts}, []jen.Code{ld("HookID")}, []jen.Code{jen.Id("fn"), opts}}
	}
	return []method{
		{"Set", "stores v under key. With no option the store's default TTL applies;\nlivedict.TTL, NoExpiry and KeepTTL override it.",
			[]jen.Code{ctxParam(), keyParam(st), jen.Id("v").Add(valueType(st)), setOpts}, []jen.Code{jen.Error()}, []jen.Code{ctx, key, jen.Id("v"), opts}},
		{"Get", "returns the value of key; false when there is none or it expired.",
			[]jen.Code{ctxParam(), keyParam(st)}, []jen.Code{valueType(st), jen.Bool(), jen.Error()}, []jen.Code{ctx, key}},
		{"Delete", "removes key and reports whether it held a value.",
			[]jen.Code{ctxParam(), keyParam(st)}, []jen.Code{jen.Bool(), jen.Error()}, []jen.Code{ctx, key}},
		{"Has", "reports whether key holds a live value.",
			[]jen.Code{ctxParam(), keyParam(st)}, []jen.Code{jen.Bool(), jen.Error()}, []jen.Code{ctx, key}},
		{"TTL", "returns how long key has left: 0 and true when it never expires, false when it is absent.",
			[]jen.Code{ctxParam(), keyParam(st)}, []jen.Code{jen.Qual("time", "Duration"), jen.Bool(), jen.Error()}, []jen.Code{ctx, key}},
		{"Update", "applies fn to the value of key atomically; keep false deletes the key.\nfn may run more than once when other writers race it.",
			[]jen.Code{ctxParam(), keyParam(st), jen.Id("fn").Add(updateFn(st)), setOpts}, []jen.Code{jen.Error()}, []jen.Code{ctx, key, jen.Id("fn"), opts}},
		{"Len", "returns the number of live keys.",
			[]jen.Code{ctxParam()}, []jen.Code{jen.Int(), jen.Error()}, []jen.Code{ctx}},
		{"Keys", "returns the live keys, in no particular order.",
			[]jen.Code{ctxParam()}, []jen.Code{jen.Index().Add(keyType(st)), jen.Error()}, []jen.Code{ctx}},
		{"Range", "calls fn for each live key and value until fn returns false; fn may call the store.",
			[]jen.Code{ctxParam(), jen.Id("fn").Func().Params(keyParam(st), jen.Id("v").Add(valueType(st))).Bool()}, []jen.Code{jen.Error()}, []jen.Code{ctx, jen.Id("fn")}},
		{"Clear", "deletes every key of the store's bucket.",
			[]jen.Code{ctxParam()}, []jen.Code{jen.Error()}, []jen.Code{ctx}},
		{"Lock", "waits until it holds the advisory lock of key, or ctx ends (livedict.ErrLockTimeout).",
			[]jen.Code{ctxParam(), keyParam(st), lockOpts}, []jen.Code{jen.Op("*").Add(ld("Lock")), jen.Error()}, []jen.Code{ctx, key, opts}},
		{"TryLock", "takes the lock of key if it is free, without waiting.",
			[]jen.Code{ctxParam(), keyParam(st), lockOpts}, []jen.Code{jen.Op("*").Add(ld("Lock")), jen.Bool(), jen.Error()}, []jen.Code{ctx, key, opts}},
		hook("OnSet", "registers fn to run after each write of a value."),
		hook("OnGet", "registers fn to run after each Get that finds a value."),
		hook("OnDelete", "registers fn to run after each Delete that removed a value, with that value."),
		hook("OnExpire", "registers fn to run once for each key that expires, with its last value."),
		hook("OnEvict", "registers fn to run for each value the key limit pushed out."),
		{"SetHookEnabled", "switches a hook on or off and reports whether it exists.",
			[]jen.Code{jen.Id("id").Add(ld("HookID")), jen.Id("on").Bool()}, []jen.Code{jen.Bool()}, []jen.Code{jen.Id("id"), jen.Id("on")}},
		{"RemoveHook", "unregisters a hook and reports whether it existed.",
			[]jen.Code{jen.Id("id").Add(ld("HookID"))}, []jen.Code{jen.Bool()}, []jen.Code{jen.Id("id")}},
		{"Stats", "returns the store's counters.", nil, []jen.Code{ld("Stats")}, nil},
		{"Close", "stops the store and waits for its goroutines; later calls return livedict.ErrClosed.",
			nil, []jen.Code{jen.Error()}, nil},
	}
}

func forward(recv, recvType, field string, m method) jen.Code {
	call := jen.Id(recv).Dot(field).Dot(m.name).Call(m.args...)
	body := jen.Return(call)
	return doc("%s %s", m.name, m.doc).
		Func().Params(jen.Id(recv).Op("*").Id(recvType)).Id(m.name).Params(m.params...).Params(m.results...).
		Block(body)
}

func storeMethods(st *Store, n storeNames) []jen.Code {
	var out []jen.Code
	for _, m := range storeMethodList(st) {
		out = append(out, forward("s", n.store, "s", m))
	}
	out = append(out, doc("Async returns the asynchronous view of the store: each operation returns a\n"+
		"future at once; one key's operations from one goroutine take effect in order.").
		Func().Params(jen.Id("s").Op("*").Id(n.store)).Id("Async").Params().Op("*").Id(n.async).Block(
		jen.Return(jen.Op("&").Id(n.async).Values(jen.Dict{jen.Id("a"): jen.Id("s").Dot("s").Dot("Async").Call()}))))
	return out
}

func asyncType(st *Store, n storeNames) jen.Code {
	return doc("%s is the asynchronous view of a %s.", n.async, n.store).
		Type().Id(n.async).Struct(jen.Id("a").Op("*").Add(generic(st, "AsyncStore")))
}

func asyncMethods(st *Store, n storeNames) []jen.Code {
	ctx, key := jen.Id("ctx"), jen.Id("key")
	opts := jen.Id("opts").Op("...")
	setOpts := jen.Id("opts").Op("...").Add(ld("SetOption"))
	future := func(t jen.Code) jen.Code { return jen.Op("*").Add(ld("Future")).Types(t) }
	lookup := func(t jen.Code) jen.Code { return ld("Lookup").Types(t) }
	done := jen.Struct()
	list := []method{
		{"Set", "is the asynchronous Set.", []jen.Code{ctxParam(), keyParam(st), jen.Id("v").Add(valueType(st)), setOpts},
			[]jen.Code{future(done)}, []jen.Code{ctx, key, jen.Id("v"), opts}},
		{"Get", "is the asynchronous Get.", []jen.Code{ctxParam(), keyParam(st)},
			[]jen.Code{future(lookup(valueType(st)))}, []jen.Code{ctx, key}},
		{"Delete", "is the asynchronous Delete.", []jen.Code{ctxParam(), keyParam(st)}, []jen.Code{future(jen.Bool())}, []jen.Code{ctx, key}},
		{"Has", "is the asynchronous Has.", []jen.Code{ctxParam(), keyParam(st)}, []jen.Code{future(jen.Bool())}, []jen.Code{ctx, key}},
		{"TTL", "is the asynchronous TTL.", []jen.Code{ctxParam(), keyParam(st)},
			[]jen.Code{future(lookup(jen.Qual("time", "Duration")))}, []jen.Code{ctx, key}},
		{"Update", "is the asynchronous Update.", []jen.Code{ctxParam(), keyParam(st), jen.Id("fn").Add(updateFn(st)), setOpts},
			[]jen.Code{future(done)}, []jen.Code{ctx, key, jen.Id("fn"), opts}},
		{"Len", "is the asynchronous Len.", []jen.Code{ctxParam()}, []jen.Code{future(jen.Int())}, []jen.Code{ctx}},
		{"Keys", "is the asynchronous Keys.", []jen.Code{ctxParam()}, []jen.Code{future(jen.Index().Add(keyType(st)))}, []jen.Code{ctx}},
		{"Clear", "is the asynchronous Clear.", []jen.Code{ctxParam()}, []jen.Code{future(done)}, []jen.Code{ctx}},
	}
	var out []jen.Code
	for _, m := range list {
		out = append(out, forward("a", n.async, "a", m))
	}
	return out
}
