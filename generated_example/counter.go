package generated_example

import "time"

// Counter counts events per numeric id.
//
//livedict:store key=int64 bucket=counters
type Counter struct {
	Hits    int64
	Updated time.Time
	Window  time.Duration
}
