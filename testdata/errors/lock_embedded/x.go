package x

import "sync"

//livedict:store
type Counter struct {
	sync.Mutex `livedict:"-"`
	N          int
}
