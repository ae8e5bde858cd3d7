package x

//livedict:store ttl=1m name=Jobs ttl=2m
type Job struct{ ID string }
