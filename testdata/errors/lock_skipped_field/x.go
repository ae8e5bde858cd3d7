package x

import "sync"

//livedict:store
type Session struct {
	Name string
	mu   sync.Mutex `livedict:"-"`
}
