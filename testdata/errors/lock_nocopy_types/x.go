package x

import (
	"sync"
	"sync/atomic"
)

//livedict:store
type Job struct {
	ID    string
	hits  atomic.Int64   `livedict:"-"`
	once  sync.Once      `livedict:"-"`
	wg    sync.WaitGroup `livedict:"-"`
	cond  sync.Cond      `livedict:"-"`
	other *sync.Mutex    `livedict:"-"` // a pointer: fine
}
