package coverage

// Origin returns the grid's south-west corner and its steps in degrees:
// cell (row, col) spans [minLat + row×latStep, +latStep) ×
// [minLon + col×lonStep, +lonStep). A client redraws the grid from these.
func (g *Grid) Origin() (minLat, minLon, latStep, lonStep float64) {
	return g.minLat, g.minLon, g.latStep, g.lonStep
}
