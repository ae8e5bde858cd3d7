package runtime

import "testing"

func TestParseShape(t *testing.T) {
	for _, c := range []struct{ shape, goText string }{
		{"int64", "int64"},
		{"bytes", "[]byte"},
		{"*time", "*time.Time"},
		{"[]duration", "[]time.Duration"},
		{"[16]uint8", "[16]uint8"},
		{"map[string]*[]float32", "map[string]*[]float32"},
		{"map[map[int]bool][2]struct", "map[map[int]bool][2]struct"},
		{"map[text]binary", "map[encoding.TextMarshaler]encoding.BinaryMarshaler"},
	} {
		s := parseShape(c.shape)
		if s == nil {
			t.Errorf("parseShape(%q) = nil", c.shape)
			continue
		}
		if got := s.text(false); got != c.shape {
			t.Errorf("parseShape(%q).text = %q", c.shape, got)
		}
		if got := s.text(true); got != c.goText {
			t.Errorf("parseShape(%q) in Go = %q, want %q", c.shape, got, c.goText)
		}
	}
	for _, bad := range []string{"", "*", "[]", "[x]int", "map[int", "map[int]", "int]", "int64x", "[]in", "map[int]]int"} {
		if s := parseShape(bad); s != nil {
			t.Errorf("parseShape(%q) = %q, want nil", bad, s.text(false))
		}
	}
}

func TestSchemaMessage(t *testing.T) {
	for _, c := range []struct{ stored, want, msg string }{
		{"int64", "int32", "stored as int64, this build reads int32 (narrowing is not safe)"},
		{"float64", "*float32", "stored as float64, this build reads *float32 (narrowing is not safe)"},
		{"map[int64]string", "map[int32]string", "stored as map[int64]string, this build reads map[int32]string (narrowing is not safe)"},
		{"*[]uint16", "[]uint8", "stored as *[]uint16, this build reads []uint8 (narrowing is not safe)"},
		{"int8", "uint64", "stored as int8, this build reads uint64 (signed and unsigned integers do not convert)"},
		{"[4]uint8", "[4]float64", "stored as [4]uint8, this build reads [4]float64 (integers and floats do not convert)"},
		{"string", "bytes", "stored as string, this build reads []byte"},
		{"[]struct", "[]*struct", "stored as []struct, this build reads []*struct"},
		{"[7]int", "[8]int", "stored as another type (signature 3b9b9a0f), this build reads [8]int"},
	} {
		if got := schemaMessage(signatureOf(c.stored), signatureOf(c.want), c.want); got != c.msg {
			t.Errorf("%s as %s: %q, want %q", c.stored, c.want, got, c.msg)
		}
	}
	// Expect knows the wanted type by its signature alone.
	if got, want := schemaMessage(signatureOf("int64"), signatureOf("int8"), ""), "stored as int64, this build reads int8 (narrowing is not safe)"; got != want {
		t.Errorf("by signature: %q, want %q", got, want)
	}
}
