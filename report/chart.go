package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The charts of the HTML report are drawn with gonum/plot, into SVG, and
// inlined in the page. The legends are HTML next to the chart, so that they
// never cover the data.

// chart is one rendered chart: its SVG and the legend drawn next to it.
type chart struct {
	ID      string // unique in the page
	Title   string
	Caption string // one sentence: what to look at
	SVG     template.HTML
	Legend  []legendEntry
	// Panels, if any, are small charts in place of SVG: one per variant.
	Panels []panel
}

// panel is one small chart of several sharing a legend.
type panel struct {
	Title string
	SVG   template.HTML
	yMax  float64 // the top of its y axis
}

// legendEntry is one series' name and how it is drawn.
type legendEntry struct {
	Name   string
	Color  string // CSS colour
	Dashed bool
	Bar    bool   // a filled box rather than a line
	Note   string // what the reader needs to find it: "none", "on local ports in use"
}

// series is one line of a chart.
type series struct {
	name  string
	xys   plotter.XYs
	color color.RGBA
	width vg.Length
	dash  bool
	step  bool // a count per interval: the value holds over the interval ending at x
	ref   bool // a reference line (the range size), not samples
}

// The palette: readable on white, distinct for the usual colour blindness.
var (
	colBlue   = rgb(0x25, 0x63, 0xeb)
	colRed    = rgb(0xdc, 0x26, 0x26)
	colAmber  = rgb(0xd9, 0x77, 0x06)
	colViolet = rgb(0x7c, 0x3a, 0xed)
	colTeal   = rgb(0x0d, 0x94, 0x88)
	colGreen  = rgb(0x16, 0xa3, 0x4a)
	colPink   = rgb(0xdb, 0x27, 0x77)
	colSlate  = rgb(0x33, 0x41, 0x55)
	colGray   = rgb(0x94, 0xa3, 0xb8)
	colGrid   = rgb(0xe2, 0xe8, 0xf0)
	colAxis   = rgb(0x64, 0x74, 0x8b)
	colInk    = rgb(0x1e, 0x29, 0x3b)

	// variantColors tell variants apart in the charts that overlay them.
	variantColors = []color.RGBA{colBlue, colAmber, colViolet, colTeal, colPink, colGreen, colSlate, colRed,
		rgb(0x02, 0x84, 0xc7), rgb(0x65, 0xa3, 0x0d), rgb(0xea, 0x58, 0x0c), rgb(0xc0, 0x26, 0xd3)}
)

// classColors give each failure class its own colour; the port-exhaustion
// classes are the reds.
var classColors = map[string]color.RGBA{
	"EADDRNOTAVAIL": colRed,
	"EADDRINUSE":    rgb(0xea, 0x58, 0x0c),
	"EMFILE":        colPink,
	"ENFILE":        rgb(0x9d, 0x17, 0x4d),
	"ECONNREFUSED":  colViolet,
	"ETIMEDOUT":     rgb(0xca, 0x8a, 0x04),
	"timeout":       rgb(0xa1, 0x62, 0x07),
	"ECONNRESET":    rgb(0x08, 0x91, 0xb2),
	"EPIPE":         colTeal,
	"EOF":           colSlate,
	"echo_mismatch": rgb(0x4d, 0x7c, 0x0f),
}

func classColor(class string) color.RGBA {
	if c, ok := classColors[class]; ok {
		return c
	}
	return colGray
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

func cssColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// The size of a chart in points (the SVG's viewBox); the page scales it to
// its column, so text stays about 13 px high on a desktop screen.
const (
	chartWidth  = 720
	chartHeight = 240
)

// chartFont is the face the text is measured with; the SVG asks for it
// by name and falls back to the metric-compatible Arial or Helvetica.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns an empty plot in the report's style, with grid lines
// across the y axis' ticks.
func newPlot(xLabel, yLabel string) *plot.Plot { return newPlotGrid(xLabel, yLabel, false, true) }

// newPlotGrid returns an empty plot in the report's style, with grid lines
// at the x axis' ticks (vertical), the y axis' (horizontal), or both.
func newPlotGrid(xLabel, yLabel string, vertical, horizontal bool) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = color.Transparent
	style := func(s *text.Style, size vg.Length, c color.Color) {
		s.Font = font.From(chartFont, size)
		s.Color = c
	}
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		style(&a.Label.TextStyle, 10, colAxis)
		style(&a.Tick.Label, 9, colAxis)
		a.LineStyle.Color = colGrid
		a.LineStyle.Width = vg.Points(1)
		a.Tick.LineStyle.Color = colGrid
		a.Tick.Length = vg.Points(4)
		a.Padding = 0
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Label.Padding = vg.Points(2)
	p.Y.Label.Padding = vg.Points(4)
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = nil, nil
	if vertical {
		grid.Vertical.Color = colGrid
		grid.Vertical.Width = vg.Points(0.75)
	}
	if horizontal {
		grid.Horizontal.Color = colGrid
		grid.Horizontal.Width = vg.Points(0.75)
	}
	p.Add(grid)
	return p
}

// addSeries adds lines to the plot and returns their legend, in the
// order given. The first series matters most and is drawn on top; a
// series that runs on another's line (TIME_WAIT on the ports in use, when
// every port held is in TIME_WAIT) is drawn above it, thinner and dashed,
// so that both stay visible, and its legend says so.
func addSeries(p *plot.Plot, ss []series) ([]legendEntry, error) {
	on := make([]int, len(ss)) // the series each one runs on; -1: none
	for i := range ss {
		on[i] = -1
		for j := 0; j < i && !ss[i].ref; j++ {
			if !ss[j].ref && coincide(ss[i].xys, ss[j].xys) {
				on[i] = j
				break
			}
		}
	}
	var legend []legendEntry
	for i, s := range ss {
		if len(s.xys) > 0 && s.name != "" {
			e := legendEntry{Name: s.name, Color: cssColor(s.color), Dashed: s.dash || on[i] >= 0}
			if on[i] >= 0 {
				e.Note = "on " + ss[on[i]].name
			}
			legend = append(legend, e)
		}
	}
	// Bottom to top: the series that run on others' lines last.
	var order []int
	for i := len(ss) - 1; i >= 0; i-- {
		if on[i] < 0 {
			order = append(order, i)
		}
	}
	for i := range ss {
		if on[i] >= 0 {
			order = append(order, i)
		}
	}
	for _, i := range order {
		s := ss[i]
		if len(s.xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", s.name, err)
		}
		l.Color = s.color
		l.Width = s.width
		if l.Width == 0 {
			l.Width = vg.Points(1.5)
		}
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		if on[i] >= 0 {
			// Over the line it runs on, leaving it visible in the gaps.
			l.Width = min(l.Width, vg.Points(1.5))
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		}
		if s.step {
			l.StepStyle = plotter.PreStep
		}
		p.Add(l)
		if len(s.xys) < 12 && !s.ref {
			// A handful of samples: show where they are.
			sc, err := plotter.NewScatter(s.xys)
			if err == nil {
				sc.GlyphStyle.Color = s.color
				sc.GlyphStyle.Radius = vg.Points(2)
				sc.GlyphStyle.Shape = draw.CircleGlyph{}
				p.Add(sc)
			}
		}
	}
	return legend, nil
}

// coincide reports whether line a runs on line b for much of its length:
// at a quarter or more of a's points that are not zero, b has a point at
// the same time with about the same value.
func coincide(a, b plotter.XYs) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	top := math.Max(maxY(a), maxY(b))
	if top <= 0 {
		return false
	}
	tol := math.Max(0.5, top*0.01)
	at := make(map[float64]float64, len(b))
	for _, p := range b {
		at[p.X] = p.Y
	}
	nonzero, same := 0, 0
	for _, p := range a {
		if p.Y == 0 {
			continue
		}
		nonzero++
		if y, ok := at[p.X]; ok && math.Abs(y-p.Y) <= tol {
			same++
		}
	}
	return nonzero > 0 && same >= 2 && 4*same >= nonzero
}

// marker is a vertical line across the plot at x, labelled at the top: the
// moment the ports ran out, or came back.
type marker struct {
	x     float64
	label string
	color color.RGBA
	row   int // labels of several markers go on rows of their own
}

// Plot implements plot.Plotter.
func (m marker) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.x)
	ls := draw.LineStyle{Color: m.color, Width: vg.Points(1.25), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
	sty := text.Style{
		Color:   m.color,
		Font:    font.From(chartFont, 9),
		XAlign:  draw.XLeft,
		YAlign:  draw.YTop,
		Handler: p.TextHandler,
	}
	pt := vg.Point{X: x + vg.Points(3), Y: c.Max.Y - vg.Points(2) - vg.Points(11*float64(m.row))}
	if x > c.Min.X+(c.Max.X-c.Min.X)*0.7 {
		sty.XAlign = draw.XRight
		pt.X = x - vg.Points(3)
	}
	c.FillText(sty, pt, m.label)
}

// DataRange implements plot.DataRanger: the marker widens the x range only.
func (m marker) DataRange() (xmin, xmax, ymin, ymax float64) {
	return m.x, m.x, math.Inf(1), math.Inf(-1)
}

// barLabels write each bar's value past its end, in a horizontal bar
// chart whose bars are offset by offset from their row.
type barLabels struct {
	values plotter.Values
	offset vg.Length
}

// Plot implements plot.Plotter.
func (b barLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := text.Style{Color: colInk, Font: font.From(chartFont, 9), XAlign: draw.XLeft, YAlign: draw.YCenter, Handler: p.TextHandler}
	for i, v := range b.values {
		if v <= 0 {
			continue
		}
		c.FillText(sty, vg.Point{X: trX(v) + vg.Points(3), Y: trY(float64(i)) + b.offset}, formatCount(v))
	}
}

// finishAxes sets the ranges once the data is in: counts start at zero, and
// there is head room above the data for the markers' labels.
func finishAxes(p *plot.Plot) {
	if math.IsInf(p.X.Min, 0) || math.IsInf(p.X.Max, 0) {
		p.X.Min, p.X.Max = 0, 1
	}
	p.X.Min = math.Min(p.X.Min, 0)
	if p.X.Max <= p.X.Min {
		p.X.Max = p.X.Min + 1
	}
	if math.IsInf(p.Y.Max, 0) || p.Y.Max <= 0 {
		p.Y.Max = 1
	}
	p.Y.Min = 0
	p.Y.Max = niceCeil(p.Y.Max * 1.12)
}

// niceCeil rounds v up to the last of the round ticks that cover it, so
// that the top of an axis is labelled.
func niceCeil(v float64) float64 {
	ts := niceTicks(0, v, 5, formatCount)
	if len(ts) < 2 {
		return v
	}
	step := ts[1].Value - ts[0].Value
	return math.Ceil(v/step-1e-9) * step
}

// svgSize is the size vgsvg gives the <svg> element, in points; the page
// sizes it with CSS instead, keeping the viewBox.
var svgSize = regexp.MustCompile(`^<svg width="[^"]*" height="[^"]*"`)

// renderSVG draws the plot into an SVG element fit for inlining in HTML.
func renderSVG(p *plot.Plot, id, label string, width, height vg.Length) (template.HTML, error) {
	c := vgsvg.New(width, height)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("chart %s: %w", id, err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("chart %s: no <svg> element in the renderer's output", id)
	}
	s = s[i:]
	s = svgSize.ReplaceAllLiteralString(s, fmt.Sprintf(`<svg class="chart" id="%s" role="img" aria-label="%s"`,
		template.HTMLEscapeString(id), template.HTMLEscapeString(label)))
	// The page trusts this markup: it is drawn by us, and vgsvg escapes
	// every text it writes.
	// Ask for the measured face first, then its metric-compatible twins.
	s = strings.ReplaceAll(s, "font-family:Liberation Sans;", `font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;`)
	return template.HTML(s), nil
}

// formatCount writes a count, a rate or a tick value briefly: whole
// numbers without decimals, others to three significant digits.
func formatCount(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// niceTicks are about n labelled ticks at round values (1, 2, 2.5 or 5
// times a power of ten) from min to max.
func niceTicks(min, max float64, n int, label func(float64) string) []plot.Tick {
	if !(max > min) || n < 1 || math.IsInf(max-min, 0) {
		return nil
	}
	raw := (max - min) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	var ts []plot.Tick
	first := math.Ceil(min/step - 1e-9)
	// Each tick is a step further: about n of them, unless min is so
	// far from zero that adding a step no longer changes the value.
	for i := 0; i <= 4*n+2; i++ {
		v := (first + float64(i)) * step
		if v > max+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ts = append(ts, plot.Tick{Value: v, Label: label(v)})
	}
	return ts
}

// countTicks label an axis of counts or rates.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(min, max float64) []plot.Tick { return niceTicks(min, max, 5, formatCount) }

// secondsTicks label an axis of seconds from the start of a run, in
// milliseconds when it is shorter than two seconds.
type secondsTicks struct{}

// Ticks implements plot.Ticker.
func (secondsTicks) Ticks(min, max float64) []plot.Tick {
	if max < 2 {
		return niceTicks(min, max, 8, func(v float64) string { return formatCount(math.Round(v*1e6)/1e3) + "ms" })
	}
	return niceTicks(min, max, 8, func(v float64) string { return formatCount(v) + "s" })
}

// shortMicros writes a duration given in microseconds as briefly as a tick
// label needs: 10µs, 2.5ms, 1s.
func shortMicros(us float64) string {
	switch {
	case us < 1e3:
		return formatCount(us) + "µs"
	case us < 1e6:
		return formatCount(us/1e3) + "ms"
	default:
		return formatCount(us/1e6) + "s"
	}
}
