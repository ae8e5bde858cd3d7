package x

// Draft is meant to be stored, but the directive has a space after //.
//
// livedict:store key=int
type Draft struct{ A int }

//livedict:store
type Kept struct{ A int }
