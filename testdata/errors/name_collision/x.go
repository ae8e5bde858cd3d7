package x

// TStore is the user's own type.
type TStore struct{}

//livedict:store
type T struct{ A int }
