package codectest

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// gen makes random values of the package's types, with the corner cases
// (nil and empty, zero, extremes, NaN, odd zones) coming up often.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, 0x11ced1c7))} }

func (g *gen) n(max int) int { return g.r.IntN(max) }

func (g *gen) oneIn(n int) bool { return g.r.IntN(n) == 0 }

func (g *gen) str() string {
	const chars = "ab\x00\xffé日/"
	if g.oneIn(5) {
		return ""
	}
	var b strings.Builder
	for range g.n(12) {
		b.WriteByte(chars[g.n(len(chars))])
	}
	return b.String()
}

func (g *gen) bytes() []byte {
	switch g.n(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, g.n(40))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *gen) i64() int64 {
	switch g.n(6) {
	case 0:
		return 0
	case 1:
		return math.MinInt64
	case 2:
		return math.MaxInt64
	case 3:
		return int64(g.n(200)) - 100
	}
	return int64(g.r.Uint64())
}

func (g *gen) u64() uint64 {
	switch g.n(4) {
	case 0:
		return 0
	case 1:
		return math.MaxUint64
	case 2:
		return uint64(g.n(300))
	}
	return g.r.Uint64()
}

func (g *gen) f64() float64 {
	switch g.n(10) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1 - 2*g.n(2))
	case 2:
		return math.Copysign(0, -1)
	case 3:
		return math.MaxFloat64
	case 4:
		return math.SmallestNonzeroFloat64
	}
	return g.r.NormFloat64() * 1e6
}

func (g *gen) f32() float32 {
	if g.oneIn(5) {
		return float32(math.Inf(-1))
	}
	return float32(g.f64())
}

var zones = []*time.Location{
	time.UTC,
	time.Local,
	time.FixedZone("IST", 5*3600+30*60),
	time.FixedZone("", -7*3600),
	time.FixedZone("LMT", 3600+17), // an offset in seconds: format version 2
	time.FixedZone("LMT", -(4*3600 + 56*60 + 2)),
}

func (g *gen) time() time.Time {
	if g.oneIn(5) {
		return time.Time{}
	}
	t := time.Unix(g.r.Int64N(1<<36)-1<<35, g.r.Int64N(1e9))
	if g.oneIn(3) {
		t = time.Now() // with a monotonic reading, which the encoding drops
	}
	return t.In(zones[g.n(len(zones))])
}

func (g *gen) strs() []string {
	switch g.n(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	s := make([]string, g.n(5))
	for i := range s {
		s[i] = g.str()
	}
	return s
}

func (g *gen) scalars() Scalars {
	return Scalars{
		B: g.oneIn(2), I: int(g.i64()), I8: int8(g.i64()), I16: int16(g.i64()), I32: int32(g.i64()), I64: g.i64(),
		U: uint(g.u64()), U8: uint8(g.u64()), U16: uint16(g.u64()), U32: uint32(g.u64()), U64: g.u64(), UP: uintptr(g.u64()),
		F32: g.f32(), F64: g.f64(), S: g.str(), Raw: g.bytes(), T: g.time(), D: time.Duration(g.i64()),
	}
}

func (g *gen) inner() Inner {
	return Inner{Name: g.str(), Score: g.f64(), When: g.time(), Tags: g.strs()}
}

func (g *gen) innerPtr() *Inner {
	if g.oneIn(3) {
		return nil
	}
	v := g.inner()
	return &v
}

func (g *gen) version() Version { return Version{Major: g.n(1 << 20), Minor: g.n(300)} }

func (g *gen) color() Color { return Color{uint8(g.n(256)), uint8(g.n(256)), uint8(g.n(256))} }

// path gives nil or non-empty elements: Path's text form cannot tell
// "" from [] from [""].
func (g *gen) path() Path {
	if g.oneIn(3) {
		return nil
	}
	p := make(Path, 1+g.n(4))
	for i := range p {
		p[i] = "p" + strings.ReplaceAll(g.str(), "/", "")
	}
	return p
}

func (g *gen) composite() Composite {
	var v Composite
	v.Base = Base{ID: g.i64(), Created: g.time()}
	if g.oneIn(2) {
		v.Extra = &Extra{Note: g.str()}
	}
	if g.oneIn(2) {
		p := int(g.i64())
		v.P = &p
	}
	switch g.n(3) {
	case 1:
		v.PP = new(*string)
	case 2:
		s := g.str()
		ps := &s
		v.PP = &ps
	}
	v.PS = g.innerPtr()
	v.Tags = g.strs()
	if !g.oneIn(3) {
		v.Ints = make([]int, g.n(4))
		for i := range v.Ints {
			v.Ints[i] = int(g.i64())
		}
	}
	if !g.oneIn(3) {
		v.Matrix = make([][]uint16, g.n(4))
		for i := range v.Matrix {
			if !g.oneIn(3) {
				v.Matrix[i] = make([]uint16, g.n(4))
				for j := range v.Matrix[i] {
					v.Matrix[i][j] = uint16(g.u64())
				}
			}
		}
	}
	for i := range v.Grid {
		for j := range v.Grid[i] {
			v.Grid[i][j] = int16(g.i64())
		}
	}
	for i := range v.Hash {
		v.Hash[i] = byte(g.u64())
	}
	if !g.oneIn(3) {
		v.Zeros = make([][0]int, g.n(1000))
	}
	if !g.oneIn(3) {
		v.M = make(map[string]int)
		for range g.n(4) {
			v.M[g.str()] = int(g.i64())
		}
	}
	if !g.oneIn(3) {
		v.MS = make(map[string][]string)
		for range g.n(4) {
			v.MS[g.str()] = g.strs()
		}
	}
	if !g.oneIn(3) {
		v.MV = make(map[int64]Inner)
		for range g.n(3) {
			v.MV[g.i64()] = g.inner()
		}
	}
	if !g.oneIn(3) {
		v.MP = make(map[Label]*Inner)
		for range g.n(3) {
			v.MP[Label(g.str())] = g.innerPtr()
		}
	}
	v.In = g.inner()
	v.Plain = Plain{X: int32(g.i64()), Y: int32(g.i64()), Color: g.color(), At: g.time(), Ver: g.version()}
	v.Level = Level(g.i64())
	v.Label = Label(g.str())
	v.Blob = Blob(g.bytes())
	v.Names = Names(g.strs())
	if !g.oneIn(3) {
		v.Attrs = make(Attrs)
		for range g.n(4) {
			v.Attrs[Label(g.str())] = Level(g.i64())
		}
	}
	if !g.oneIn(3) {
		v.Levels = make([]Level, g.n(4))
		for i := range v.Levels {
			v.Levels[i] = Level(g.i64())
		}
	}
	v.Version = g.version()
	v.Color = g.color()
	if !g.oneIn(3) {
		v.Colors = make([]Color, g.n(4))
		for i := range v.Colors {
			v.Colors[i] = g.color()
		}
	}
	if g.oneIn(2) {
		ver := g.version()
		v.VerPtr = &ver
	}
	v.Path = g.path()
	if !g.oneIn(3) {
		v.Paths = make(map[string]Path)
		for range g.n(3) {
			v.Paths[g.str()] = g.path()
		}
	}
	if !g.oneIn(3) {
		v.Durations = make([]time.Duration, g.n(4))
		for i := range v.Durations {
			v.Durations[i] = time.Duration(g.i64())
		}
	}
	if !g.oneIn(3) {
		v.Times = make(map[string]time.Time)
		for range g.n(3) {
			v.Times[g.str()] = g.time()
		}
	}
	v.Floats = [2]float32{g.f32(), g.f32()}
	if g.oneIn(2) {
		n := int(g.i64())
		v.NP = &n
	}
	v.Pair = Pair{g.str(), g.str()}
	if !g.oneIn(3) {
		v.KM = make(map[Key]string)
		for range g.n(3) {
			v.KM[Key{int(g.i64()), g.str()}] = g.str()
		}
	}
	if !g.oneIn(3) {
		v.AK = make(map[[2]int8]bool)
		for range g.n(3) {
			v.AK[[2]int8{int8(g.i64()), int8(g.i64())}] = g.oneIn(2)
		}
	}
	switch g.n(3) {
	case 1:
		v.ZeroMap = map[[0]int][0]int{}
	case 2:
		v.ZeroMap = map[[0]int][0]int{{}: {}}
	}
	v.Renamed = g.str()
	v.note = g.str()
	return v
}

func (g *gen) node(depth int) Node {
	v := Node{Val: int(g.i64())}
	if depth > 0 && g.oneIn(2) {
		next := g.node(depth - 1)
		v.Next = &next
	}
	if depth > 0 && g.oneIn(2) {
		v.Kids = make([]*Node, g.n(3))
		for i := range v.Kids {
			if !g.oneIn(4) {
				kid := g.node(depth - 1)
				v.Kids[i] = &kid
			}
		}
	}
	return v
}

func (g *gen) session() Session {
	v := Session{UserID: g.str(), Roles: g.strs(), CreatedAt: g.time(), Hits: g.i64()}
	if g.oneIn(2) {
		v.Profile = &Profile{Name: g.str(), Email: g.str(), Age: g.n(120)}
	}
	if !g.oneIn(3) {
		v.Meta = make(map[string]string)
		for range g.n(4) {
			v.Meta[g.str()] = g.str()
		}
	}
	return v
}
