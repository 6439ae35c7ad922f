package ui

// The districts of Changsha, drawn on the vector background and used by the
// units panel's district filter. The hub has no districts API yet, so the
// dashboard carries its own table: a handful of coarse polygons (a few
// vertices each) that follow the Xiang river and the main district lines
// closely enough to say which district a unit is in and to orient a
// dispatcher — not survey boundaries. Replace the table with the hub's
// districts when it serves them.

// LatLon is a WGS-84 position.
type LatLon struct{ Lat, Lon float64 }

// District is one administrative district: names and outline (a closed ring,
// the last vertex joins the first).
type District struct {
	ID     string // stable, for filters
	ZH, EN string
	Ring   []LatLon
}

// Districts of Changsha (approximate). Shared edges use the same vertices so
// the polygons tile without gaps.
var Districts = []District{
	{ID: "yuelu", ZH: "岳麓区", EN: "Yuelu", Ring: []LatLon{
		{28.35, 112.80}, {28.35, 112.945}, {28.25, 112.955}, {28.20, 112.962},
		{28.18, 112.961}, {28.12, 112.960}, {28.02, 112.955}, {28.02, 112.80}}},
	{ID: "kaifu", ZH: "开福区", EN: "Kaifu", Ring: []LatLon{
		{28.35, 112.945}, {28.357, 113.00}, {28.36, 113.06}, {28.21, 113.06},
		{28.205, 113.00}, {28.20, 112.962}, {28.25, 112.955}}},
	{ID: "furong", ZH: "芙蓉区", EN: "Furong", Ring: []LatLon{
		{28.20, 112.962}, {28.205, 113.00}, {28.21, 113.06}, {28.20, 113.09},
		{28.165, 113.09}, {28.17, 113.00}, {28.18, 112.961}}},
	{ID: "tianxin", ZH: "天心区", EN: "Tianxin", Ring: []LatLon{
		{28.18, 112.961}, {28.17, 113.00}, {28.10, 113.01}, {28.02, 113.00},
		{28.02, 112.955}, {28.12, 112.960}}},
	{ID: "yuhua", ZH: "雨花区", EN: "Yuhua", Ring: []LatLon{
		{28.17, 113.00}, {28.165, 113.09}, {28.10, 113.10}, {28.02, 113.08},
		{28.02, 113.00}, {28.10, 113.01}}},
	{ID: "wangcheng", ZH: "望城区", EN: "Wangcheng", Ring: []LatLon{
		{28.55, 112.72}, {28.55, 113.00}, {28.357, 113.00}, {28.35, 112.945},
		{28.35, 112.80}, {28.40, 112.72}}},
	{ID: "changsha_county", ZH: "长沙县", EN: "Changsha County", Ring: []LatLon{
		{28.55, 113.00}, {28.55, 113.30}, {28.02, 113.30}, {28.02, 113.08},
		{28.10, 113.10}, {28.165, 113.09}, {28.20, 113.09}, {28.21, 113.06},
		{28.36, 113.06}, {28.357, 113.00}}},
}

// DistrictAt is the index in Districts of the district containing lat, lon,
// or -1 outside all of them.
func DistrictAt(lat, lon float64) int {
	for i := range Districts {
		if inRing(Districts[i].Ring, lat, lon) {
			return i
		}
	}
	return -1
}

// inRing is the even-odd rule: a ray from the point eastwards crosses the
// ring's edges an odd number of times if the point is inside.
func inRing(ring []LatLon, lat, lon float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a.Lat > lat) != (b.Lat > lat) {
			x := a.Lon + (lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
			if lon < x {
				in = !in
			}
		}
	}
	return in
}

// centroid is the vertex average: where the district's name is drawn.
func (d *District) centroid() LatLon {
	var c LatLon
	for _, p := range d.Ring {
		c.Lat += p.Lat
		c.Lon += p.Lon
	}
	n := float64(len(d.Ring))
	return LatLon{c.Lat / n, c.Lon / n}
}

// Name is the district's name in lang.
func (d *District) Name(lang Lang) string {
	if lang == ZH {
		return d.ZH
	}
	return d.EN
}
