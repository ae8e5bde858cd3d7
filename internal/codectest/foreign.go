package codectest

import (
	"database/sql"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Stamp embeds time.Time and adds By: stored field by field, so By
// survives (the promoted MarshalBinary would store the time alone).
type Stamp struct {
	time.Time
	By string
}

// Tagged embeds a struct of another package that has a marshaler of its own
// (net.IPNet has none; *net.IP has MarshalText) and adds a field.
type Tagged struct {
	net.IPNet
	Label string
}

// GPair is a generic struct of this package.
type GPair[K comparable, V any] struct {
	Key K
	Val V
}

// Foreign holds structs of other packages, embedded marshalers and
// instantiated generics.
//
//livedict:store
type Foreign struct {
	Edits   []Stamp
	Last    *Stamp
	Net     Tagged
	Cookie  *http.Cookie
	Note    sql.NullString
	Maybe   sql.Null[int64]
	Top     GPair[string, []int]
	Cookies []http.Cookie
}

// Digest is a [N]byte key type, stored as lowercase hex.
type Digest [16]byte

// ByAddr has a key of another package with MarshalText and UnmarshalText.
//
//livedict:store key=netip.Addr
type ByAddr struct {
	N   int
	Net netip.Prefix
}

// ByDigest has a [N]byte key.
//
//livedict:store key=Digest
type ByDigest struct {
	N int
}

// ByMonth has a key of another package's integer type.
//
//livedict:store key=time.Month
type ByMonth struct {
	N int
}
