// Package model holds the values the benchmarks store: one struct shaped like
// a real session record, annotated for livedictgen and also run through
// tinylib/msgp, so that every serializer is measured on the same type.
package model

import "time"

//go:generate go run github.com/livedict/livedict/cmd/livedictgen
//go:generate go run github.com/tinylib/msgp -file model.go -o model_msgp.go -tests=false

// Session is a signed-in user's session.
//
//livedict:store key=string ttl=30m
type Session struct {
	UserID    string
	Roles     []string
	Profile   *Profile
	Meta      map[string]string
	CreatedAt time.Time
	// ExpiresAt lets the expiry benchmark tell, from a value alone, whether a
	// read returned it after its deadline.
	ExpiresAt time.Time
	Hits      int64
}

// Profile is the nested part of a Session.
type Profile struct {
	Name  string
	Email string
	Age   int
}

// Grant is a small record: in the memory and expiry benchmarks a large value
// would hide the per-entry overhead of each cache behind its own size.
//
//livedict:store key=string
type Grant struct {
	UserID    string
	Scope     uint32
	ExpiresAt time.Time
}
