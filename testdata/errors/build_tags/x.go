package x

//livedict:store
type Job struct {
	ID    string
	Extra Extra // only declared under a build tag this run does not set
}
