package patrol_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"kuaifan/protocol/patrol"
)

// roundTrip holds what Parse and ParseGeoJSON promise of a plan they
// accept: it validates, encoding/json writes it, and Parse reads that back
// as the same plan.
func roundTrip(t *testing.T, p *patrol.Plan) {
	if err := p.Validate(); err != nil {
		t.Fatalf("accepted a plan Validate refuses: %v", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("accepted %+v but Marshal refuses it: %v", p, err)
	}
	again, err := patrol.Parse(b)
	if err != nil {
		t.Fatalf("re-parsing %s: %v", b, err)
	}
	if !reflect.DeepEqual(p, again) {
		t.Fatalf("round trip changed\n%+v\ninto\n%+v", p, again)
	}
}

func isPatrolError(t *testing.T, err error) {
	var e *patrol.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, not *patrol.Error", err, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(load(f, "changsha.json"))
	f.Add([]byte(plan(`{"id":"t",` + point + `,"windows":["23:30-00:30"],"shifts":["night"],"dwell_min":0.5}`)))
	f.Add([]byte(plan(`{"id":"t",`+line+`}`, `{"id":"a",`+area+`}`)))
	f.Add([]byte(`{"id":"p","zone":"UTC","shifts":[{"id":"all","start":"00:00","end":"24:00"}],"tasks":[]}`))
	f.Add([]byte(`{"id":"p","tasks":[{"id":"t","kind":"point","units":["u"],"lat":0,"lon":0}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := patrol.Parse(data)
		if err != nil {
			isPatrolError(t, err)
			return
		}
		roundTrip(t, p)
	})
}

func FuzzParseGeoJSON(f *testing.F) {
	f.Add(load(f, "changsha.geojson"), false)
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":3,"properties":{"units":["u"],"fill":"#fff"},`+
		`"geometry":{"type":"Point","coordinates":[0,0,1]}}]}`), true)
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","unit_types":["foot"],"min_presence_min":1},`+
		`"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2]]]}}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, ignoreUnknown bool) {
		p, err := patrol.ParseGeoJSON(data, patrol.GeoJSONOptions{ID: "fuzz", IgnoreUnknownProperties: ignoreUnknown})
		if err != nil {
			isPatrolError(t, err)
			return
		}
		roundTrip(t, p)
	})
}
