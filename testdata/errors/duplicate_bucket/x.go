package x

//livedict:store bucket=jobs
type Job struct{ ID string }

//livedict:store key=int bucket=jobs
type Task struct{ ID string }
