package main

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type series struct {
	name   string
	values []float64
}

// chart is a grouped bar chart: one group of bars per entry of groups, one
// bar per series in each group.
type chart struct {
	file, title, ylabel string
	groups              []string
	series              []series
	log                 bool // a log scale, for values that span decades
}

func (c chart) save(path string) error {
	p := plot.New()
	p.Title.Text = c.title
	p.Y.Label.Text = c.ylabel
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	lo, hi := math.Inf(1), 0.0
	for _, s := range c.series {
		for _, v := range s.values {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	base := 0.0
	if c.log && hi > 0 {
		// Whole decades, so that the axis has its labelled powers of ten;
		// one more on top leaves room for the legend.
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi))+1)
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo, hi
		base = lo
	} else if hi > 0 {
		p.Y.Min, p.Y.Max = 0, hi*1.25 // room for the legend
	}
	n := len(c.series)
	groupWidth := vg.Points(float64(min(60, 18*n)))
	barWidth := groupWidth / vg.Length(n)
	for i, s := range c.series {
		vals := make([]float64, len(c.groups))
		copy(vals, s.values)
		b := &bars{values: vals, width: barWidth, color: plotutil.Color(i),
			offset: vg.Length(i)*barWidth - groupWidth/2 + barWidth/2}
		// A log axis has no zero: bars rise from the bottom decade, and a
		// missing value stays there.
		b.base = base
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	p.NominalX(c.groups...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.Add(plotter.NewGrid())
	width := vg.Length(max(6, 0.9*float64(len(c.groups))*float64(n)/3+3)) * vg.Inch
	return p.Save(min(width, 14*vg.Inch), 5*vg.Inch, path)
}

// bars is a bar chart whose bars rise from base rather than from zero, which
// a log scale needs; gonum's BarChart always starts at zero.
type bars struct {
	values []float64
	width  vg.Length
	offset vg.Length
	color  color.Color
	base   float64
}

func (b *bars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for i, v := range b.values {
		x := trX(float64(i))
		if !c.ContainsX(x) || v <= b.base {
			continue
		}
		x0 := x - b.width/2 + b.offset
		pts := []vg.Point{{X: x0, Y: trY(b.base)}, {X: x0, Y: trY(v)}, {X: x0 + b.width, Y: trY(v)}, {X: x0 + b.width, Y: trY(b.base)}}
		c.FillPolygon(b.color, c.ClipPolygonY(pts))
	}
}

func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = b.base, b.base
	for _, v := range b.values {
		ymax = max(ymax, v)
	}
	return 0, float64(len(b.values) - 1), ymin, ymax
}

func (b *bars) GlyphBoxes(plt *plot.Plot) []plot.GlyphBox {
	boxes := make([]plot.GlyphBox, len(b.values))
	for i := range b.values {
		boxes[i].X = plt.X.Norm(float64(i))
		boxes[i].Rectangle = vg.Rectangle{Min: vg.Point{X: b.offset - b.width/2}, Max: vg.Point{X: b.offset + b.width/2}}
	}
	return boxes
}

func (b *bars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}
