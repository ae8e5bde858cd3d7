package runtime

import (
	"testing"
	"time"
)

// The readers generated code calls for every value, alone, without the
// allocation of what they return where they can:
//
//	go test ./runtime -run '^$' -bench Read -benchmem
func BenchmarkRead(b *testing.B) {
	var e Encoder
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	e.AppendTime(at)
	timeData := e.buf
	e = Encoder{}
	e.AppendVarint(1234567)
	varintData := e.buf
	e = Encoder{}
	e.AppendString("")
	e.AppendString("Ada Lovelace")
	stringData := e.buf

	b.Run("time", func(b *testing.B) {
		d := Decoder{data: timeData, limit: len(timeData)}
		for b.Loop() {
			d.pos = 0
			if t := d.ReadTime(); d.err != nil || t.Unix() != at.Unix() {
				b.Fatal(d.err)
			}
		}
	})
	b.Run("varint", func(b *testing.B) {
		d := Decoder{data: varintData, limit: len(varintData)}
		for b.Loop() {
			d.pos = 0
			if x := d.ReadVarint(); d.err != nil || x != 1234567 {
				b.Fatal(d.err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		d := Decoder{data: stringData, limit: len(stringData)}
		for b.Loop() {
			d.pos = 0
			if s := d.ReadString(); d.err != nil || s != "" {
				b.Fatal(d.err)
			}
			if s := d.ReadString(); d.err != nil || len(s) != 12 {
				b.Fatal(d.err)
			}
		}
	})
}
