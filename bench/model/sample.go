package model

import (
	"strconv"
	"time"
)

// SampleSession returns a realistic session; i varies the identifying
// fields so that values are not all one string.
func SampleSession(i int) Session {
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC).Add(time.Duration(i) * time.Second)
	return Session{
		UserID:    "user-" + strconv.Itoa(1000000+i),
		Roles:     []string{"admin", "editor", "viewer"},
		Profile:   &Profile{Name: "Ada Lovelace", Email: "ada@example.com", Age: 36},
		Meta:      map[string]string{"ip": "203.0.113.7", "ua": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "en-GB"},
		CreatedAt: created,
		ExpiresAt: created.Add(30 * time.Minute),
		Hits:      int64(i),
	}
}
