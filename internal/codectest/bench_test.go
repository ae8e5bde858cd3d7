package codectest

import (
	"encoding/json"
	"testing"
	"time"

	ldruntime "github.com/livedict/livedict/runtime"
)

func benchSession() Session {
	return Session{
		UserID:    "user-8f14e45fceea167a5a36dedd4bea2543",
		Roles:     []string{"admin", "editor", "viewer"},
		Profile:   &Profile{Name: "Ada Lovelace", Email: "ada@example.com", Age: 36},
		Meta:      map[string]string{"ip": "203.0.113.7", "ua": "Mozilla/5.0", "locale": "en-GB"},
		CreatedAt: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Hits:      1234567,
	}
}

// BenchmarkSession compares the generated serializer with encoding/json on
// one realistic value, in one run:
//
//	go test ./internal/codectest -run '^$' -bench Session -benchmem
func BenchmarkSession(b *testing.B) {
	v := benchSession()
	b.Run("encode/livedict", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = ldruntime.Encode(buf[:0], &v, livedictAppendSession); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	data, err := ldruntime.Encode(nil, &v, livedictAppendSession)
	if err != nil {
		b.Fatal(err)
	}
	js, err := json.Marshal(&v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode/livedict", func(b *testing.B) {
		b.ReportAllocs()
		var out Session
		for b.Loop() {
			if err := ldruntime.Decode(data, &out, livedictDecodeSession); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out Session
			if err := json.Unmarshal(js, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clone/livedict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = livedictCloneSession(v)
		}
	})
}
