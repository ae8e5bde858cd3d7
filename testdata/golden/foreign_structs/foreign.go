package foreign_structs

import (
	"database/sql"
	"net"
	"net/http"
)

// Visit holds structs of other packages, stored field by field.
//
//livedict:store
type Visit struct {
	Cookie  http.Cookie
	Cookies []*http.Cookie
	Net     *net.IPNet // IP is a TextMarshaler, Mask a []byte
	Note    sql.NullString
	Seen    sql.NullTime
}

// Page embeds a struct of another package and adds a field.
//
//livedict:store
type Page struct {
	http.Cookie
	Title string
}
