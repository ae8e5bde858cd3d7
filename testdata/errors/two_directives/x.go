package x

//livedict:store ttl=1m
//livedict:store ttl=2m
type Job struct{ ID string }
