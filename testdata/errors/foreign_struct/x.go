package x

import "strings"

//livedict:store
type T struct {
	B strings.Builder
}
