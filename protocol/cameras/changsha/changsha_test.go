package changsha

import "testing"

func TestCameras(t *testing.T) {
	cs := Cameras()
	if len(cs) != 16 {
		t.Fatalf("%d cameras", len(cs))
	}
	for _, c := range cs {
		if c.Name == "" || c.Lat < 28 || c.Lat > 28.4 || c.Lon < 112.8 || c.Lon > 113.2 {
			t.Errorf("%+v is not in Changsha", c)
		}
	}
}
