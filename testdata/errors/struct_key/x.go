package x

// Point is comparable but has no text form.
type Point struct{ X, Y int }

//livedict:store key=Point
type T struct {
	N int
}
