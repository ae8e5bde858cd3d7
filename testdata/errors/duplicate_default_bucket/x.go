package x

// HTTPSession and HttpSession both default to the bucket http_session.
//
//livedict:store
type HTTPSession struct{ ID string }

//livedict:store name=LegacySessions
type HttpSession struct{ ID string }
