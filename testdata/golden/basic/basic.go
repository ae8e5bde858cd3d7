package basic

// Item is a stored item.
//
//livedict:store key=int ttl=90s
type Item struct {
	Name string
}
