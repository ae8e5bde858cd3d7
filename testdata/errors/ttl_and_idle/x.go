package x

//livedict:store ttl=1m idle=30s
type Session struct{ User string }
