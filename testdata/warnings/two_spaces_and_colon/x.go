package x

// Not gofmt'd on purpose: gofmt would put a space after the // of these
// near misses, and the raw forms are what this case is about.

//  livedict:store
type A struct{ N int }

//livedict: store ttl=1m
type B struct{ N int }

//livedict :store
type C struct{ N int }

//livedict:store
type Kept struct{ N int }
