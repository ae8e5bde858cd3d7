package model

import (
	"maps"
	"slices"
)

// CopySession returns a deep copy of s: the copy a store whose values are
// copies makes on every Set and Get, here with no store around it, so that
// the benchmarks can tell what the copy itself costs.
func CopySession(s Session) Session {
	s.Roles = slices.Clone(s.Roles)
	if s.Profile != nil {
		p := *s.Profile
		s.Profile = &p
	}
	s.Meta = maps.Clone(s.Meta)
	return s
}
