package x

import "net/http"

//livedict:store
type T struct {
	C http.Cookie
}
