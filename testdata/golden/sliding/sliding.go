package sliding

// Session expires after 30 minutes without a read (idle=): each Get
// pushes its deadline back, as a web session's would.
//
//livedict:store key=string idle=30m
type Session struct {
	User  string
	Roles []string
}
