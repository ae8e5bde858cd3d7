package rotate

import "testing"

func TestQuartiles(t *testing.T) {
	q1, q2, q3 := Quartiles([]float64{4, 1, 3, 2})
	if q1 != 1.75 || q2 != 2.5 || q3 != 3.25 {
		t.Fatalf("got %v %v %v", q1, q2, q3)
	}
	if m := Median([]float64{5}); m != 5 {
		t.Fatalf("median of one: %v", m)
	}
	if m := Median(nil); m != 0 {
		t.Fatalf("median of none: %v", m)
	}
}

func TestWithGC(t *testing.T) {
	w, c := Slice{Wall: 100, CPU: 150, GC: 30}.WithGC()
	if c != 180 || w != 120 {
		t.Fatalf("got %v %v", w, c)
	}
}
