package x

//livedict:store idle=soon
type Session struct{ User string }
