package x

type job struct{ ID string }

//livedict:store
type Job = job
