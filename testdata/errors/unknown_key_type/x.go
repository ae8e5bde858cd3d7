package x

//livedict:store key=UserID
type T struct{ A int }
