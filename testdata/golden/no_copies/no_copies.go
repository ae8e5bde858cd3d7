package nocopies

// Profile holds references; its stores share them instead of copying
// (copy=false): the program promises never to mutate a Profile after Set.
//
//livedict:store key=string copy=false
type Profile struct {
	Name  string
	Tags  []string
	Attrs map[string]string
}
