package ui

import (
	"strings"
	"testing"

	"kuaifan/protocol/api"
)

func TestEntryText(t *testing.T) {
	name := func(id string) string {
		return map[string]string{"car-1": "湘A-001", "moto-2": "湘A-M02"}[id] + map[bool]string{true: id}[id != "car-1" && id != "moto-2"]
	}
	for _, tc := range []struct {
		e      Entry
		en, zh string
	}{
		{Entry{Type: api.EntryCreated, Reason: api.ReasonReported, Params: &api.Params{Kind: "fraud", Priority: 2}},
			"fraud, P2", "诈骗，2级"},
		{Entry{Type: api.EntryRecommended, Reason: api.ReasonRanked, Params: &api.Params{Ranked: []api.Ranked{
			{Unit: "moto-2", ETAS: 41}, {Unit: "foot-3", ETAS: 400, Stale: true}}}},
			"湘A-M02 41 s, foot-3 6 min 40 s (stale)", "湘A-M02 41秒，foot-3 6分40秒 (过期)"},
		{Entry{Type: api.EntryUncovered, Reason: api.ReasonNoFreshInTier1, Params: &api.Params{Other: "car-1", Tier: 2, ETAS: fp(150)}},
			"nobody fresh within 1 min; best: 湘A-001, in the 3-min circle, ETA 2 min 30 s", "1 分钟圈内无可用警力；最近为 湘A-001（3 分钟圈内，预计 2分30秒）"},
		{Entry{Type: api.EntryUncovered, Reason: api.ReasonNoFreshInTier1, Params: &api.Params{Other: "car-9", Tier: 4, ETAS: fp(900)}},
			"nobody fresh within 1 min; best: car-9, beyond 5 min, ETA 15 min", "1 分钟圈内无可用警力；最近为 car-9（5 分钟圈外，预计 15分钟）"},
		{Entry{Type: api.EntryUncovered, Reason: api.ReasonNoFreshInTier1, Params: &api.Params{}},
			"nobody fresh within 1 min, nor anywhere else", "1 分钟圈内及全市均无可用警力"},
		{Entry{Type: api.EntryCovered, Unit: "car-1", Reason: api.ReasonAckedInTier1, Params: &api.Params{ETAS: fp(45)}},
			"湘A-001 acknowledged, ETA 45 s", "湘A-001 已签收，预计 45秒 到达"},
		{Entry{Type: api.EntryDispatched, Unit: "car-1", Reason: api.ReasonInTier, Params: &api.Params{Tier: 1, ETAS: fp(30), FixAgeS: fp(200)}},
			"in the 1-min circle, ETA 30 s, position 3 min 20 s old", "1 分钟圈内，预计 30秒，定位已过 3分20秒"},
		{Entry{Type: api.EntryDispatched, Unit: "moto-2", Reason: api.ReasonReplacing, Params: &api.Params{Other: "car-1", State: api.AssignDeclined, Tier: 1, ETAS: fp(50)}},
			"instead of 湘A-001 (declined); in the 1-min circle, ETA 50 s", "替换 湘A-001（已拒绝）；1 分钟圈内，预计 50秒"},
		{Entry{Type: api.EntryTimeout, Unit: "car-1", Reason: api.ReasonNoAck, Params: &api.Params{TimeoutS: fp(20)}},
			"no acknowledgement within 20 s", "20秒内未签收"},
		{Entry{Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Source: "camera", Lat: fp(28.2), Lon: fp(112.98)}},
			"seen by a camera at 28.20000, 112.98000", "天网摄像头发现于 28.20000, 112.98000"},
		{Entry{Type: api.EntryClosed, Reason: api.ReasonByPerson, Params: &api.Params{Note: "嫌疑人已抓获"}},
			"closed by a dispatcher: 嫌疑人已抓获", "调度员结束：嫌疑人已抓获"},
		{Entry{Type: api.EntryReopened, Reason: api.ReasonReopened, Params: &api.Params{Note: "caller rang again"}},
			"reason: caller rang again", "原因：caller rang again"},
		// An entry from an older hub: its English detail, as it was.
		{Entry{Type: api.EntryDispatched, Detail: "tier 1 (1 分钟), eta 30 s"}, "tier 1 (1 分钟), eta 30 s", "tier 1 (1 分钟), eta 30 s"},
		// A reason this dashboard does not know: the detail.
		{Entry{Type: api.EntryClosed, Reason: "by_moon", Detail: "closed by the moon"}, "closed by the moon", "closed by the moon"},
	} {
		if got := EntryText(EN, tc.e, name, nil); got != tc.en {
			t.Errorf("EN %s/%s = %q, want %q", tc.e.Type, tc.e.Reason, got, tc.en)
		}
		if got := EntryText(ZH, tc.e, name, nil); got != tc.zh {
			t.Errorf("ZH %s/%s = %q, want %q", tc.e.Type, tc.e.Reason, got, tc.zh)
		}
	}
}

// Every reason the hub may send renders in both languages without a
// placeholder left over, from an entry with every parameter set.
func TestEntryTextEveryReason(t *testing.T) {
	p := &api.Params{Kind: "theft", Priority: 1, Tier: 2, ETAS: fp(61), FixAgeS: fp(130), BestETAS: fp(200), TimeoutS: fp(20),
		Other: "car-9", State: api.AssignTimeout, Source: "caller", Lat: fp(28.1), Lon: fp(112.9), Note: "n",
		Ranked: []api.Ranked{{Unit: "u", ETAS: 5}}}
	for typ, reasons := range api.Reasons {
		for _, r := range reasons {
			for _, lang := range []Lang{EN, ZH} {
				got := EntryText(lang, Entry{Type: typ, Unit: "car-1", Reason: r, Params: p, Detail: "ENGLISH DETAIL"}, func(s string) string { return s }, nil)
				if got == "" || got == "ENGLISH DETAIL" || strings.ContainsAny(got, "{}") {
					t.Errorf("%s %s/%s = %q", lang, typ, r, got)
				}
			}
		}
	}
}
