package backend

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	got, err := BucketConfig{Name: "b"}.Normalize()
	if err != nil || got.Retention != DefaultRetention || got.Name != "b" {
		t.Fatalf("Normalize of a bare config = %+v, %v; want the default retention", got, err)
	}
	keep := BucketConfig{Name: "b", Limit: Limit{MaxKeys: 3, Policy: EvictLRU}, Retention: 7}
	if got, err := keep.Normalize(); err != nil || got != keep {
		t.Fatalf("Normalize(%+v) = %+v, %v; want it unchanged", keep, got, err)
	}
	for _, bad := range []BucketConfig{
		{},
		{Name: "b", Limit: Limit{MaxKeys: -1}},
		{Name: "b", Limit: Limit{MaxKeys: 3}},
		{Name: "b", Limit: Limit{MaxKeys: 3, Policy: Policy(9)}},
		{Name: "b", Retention: -1},
	} {
		if _, err := bad.Normalize(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Normalize(%+v) = %v; want ErrInvalidOption", bad, err)
		}
	}
}
