package codectest

import "time"

// Stamped holds times in every place the serializer reaches, and fields it
// skips: every backend must return the same value for it (backends_test.go).
//
//livedict:store
type Stamped struct {
	At     time.Time
	Ptr    *time.Time
	List   []time.Time
	ByName map[string]time.Time
	ByTime map[time.Time]string
	Base   Base // a nested struct with a time
	Note   string

	Secret string         `livedict:"-"` // never stored
	Cache  map[string]int `livedict:"-"`
	hidden []byte         `livedict:"-"`
}
