package generated_example

import "time"

// Session is a signed-in user's session, kept for 30 minutes unless a Set
// says otherwise.
//
//livedict:store key=string ttl=30m
type Session struct {
	UserID    string
	Roles     []string
	Profile   *Profile // nested structs of the package get a serializer too
	Meta      map[string]string
	CreatedAt time.Time
	Scratch   chan int `livedict:"-"` // not stored
}

// Profile is part of a Session.
type Profile struct {
	Name    string `livedict:"name"` // the wire name stays if the field is renamed
	Email   string
	Picture []byte
}
