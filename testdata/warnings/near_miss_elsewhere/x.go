// livedict:store
package x

func f() {
	// livedict:store key=int
}

//livedict:store
type Kept struct{ N int }
