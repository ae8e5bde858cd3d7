package x

// A and B are stored, but the directive is on their group.
//
//livedict:store
type (
	A struct{ N int }
	B struct{ N int }
)

type (
	// Kept is in a group of one, with the directive on its spec.
	//
	//livedict:store
	Kept  struct{ N int }
	Other struct{ N int }
)
