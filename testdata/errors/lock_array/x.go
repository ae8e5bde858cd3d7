package x

import "sync"

//livedict:store
type Shards struct {
	Names []string
	locks [4]sync.Mutex `livedict:"-"`
}
