package x

import "sync"

// Profile is reached through a pointer, but its generated deep copy takes
// and returns Profile values.
//
//livedict:store
type User struct {
	Name    string
	Profile *Profile
}

type Profile struct {
	Bio  string
	init sync.Once `livedict:"-"`
}
