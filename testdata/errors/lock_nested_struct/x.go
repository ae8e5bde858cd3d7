package x

import "sync"

//livedict:store
type Session struct {
	Name  string
	State State
}

type State struct {
	Hits int
	mu   sync.RWMutex `livedict:"-"`
}
