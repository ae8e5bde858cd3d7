package promoted_marshalers

import "time"

// Stamp embeds time.Time and adds By: it is stored field by field, so By is
// kept (the promoted MarshalBinary would write the time alone).
type Stamp struct {
	time.Time
	By string
}

// Instant embeds time.Time and adds nothing stored: time.Time's own
// MarshalBinary stores it.
type Instant struct {
	time.Time
	Note string `livedict:"-"`
}

// Audit is stored.
//
//livedict:store
type Audit struct {
	Edits []Stamp
	Last  *Stamp
	At    Instant
}
