package ui

import (
	"encoding/json"
	"strconv"
	"testing"

	"kuaifan/protocol"
)

func BenchmarkDecodeDelta500(b *testing.B) {
	us := make([]Unit, 500)
	for i := range us {
		us[i] = unitAt("sim-car-"+strconv.Itoa(i), protocol.TypeCar, protocol.StatusAvailable, 28.2+float64(i)*1e-4, 112.98, 1795958202536)
		us[i].HeadingDeg, us[i].SpeedMPS, us[i].AccM, us[i].Battery = fp(193.3), fp(8.17), fp(4.4), fp(0.788)
		us[i].Callsign = "湘A-0001"
		us[i].Capabilities = []string{"armed"}
		s := uint64(1795958193516750)
		us[i].Seq = &s
		us[i].LastSeen = 1795958202536
	}
	data, _ := json.Marshal(Frame{Type: "delta", Seq: 5, TS: 1, Units: us})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var f Frame
		json.Unmarshal(data, &f)
	}
}
