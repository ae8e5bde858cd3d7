package keys

import (
	"net/netip"
	"time"
)

// Digest is a fixed-size array key: stored as lowercase hex.
type Digest [4]byte

// ByMonth has a key of another package's integer type (its decimal form).
//
//livedict:store key=time.Month
type ByMonth struct {
	Total int
}

// ByAddr has a key with MarshalText and UnmarshalText (its text form).
//
//livedict:store key=netip.Addr
type ByAddr struct {
	Seen time.Time
	Net  netip.Prefix
}

// ByDigest has a [N]byte key.
//
//livedict:store key=Digest
type ByDigest struct {
	Name string
}
