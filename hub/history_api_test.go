package hub_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// historyBox is the box of the history tests: minLon, minLat, maxLon, maxLat.
var historyBox = [4]float64{112.95, 28.18, 113.00, 28.22}

func inHistoryBox(lat, lon float64) bool {
	return lon >= historyBox[0] && lat >= historyBox[1] && lon <= historyBox[2] && lat <= historyBox[3]
}

// historyBody GETs path with the admin token (or the given one; "-" for
// none) and returns the status and the whole body.
func historyBody(t *testing.T, h *hubtest.Hub, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch token {
	case "":
		req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, body
}

// historyPage GETs one page and checks that it is a 200 whose body is
// exactly what json.Marshal of a wire.HistoryPage writes (and a newline).
func historyPage(t *testing.T, h *hubtest.Hub, path string) wire.HistoryPage {
	t.Helper()
	status, body := historyBody(t, h, path, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var page wire.HistoryPage
	if err := dec.Decode(&page); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	again, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(again, '\n'); !bytes.Equal(body, want) {
		t.Fatalf("GET %s: the body is not json.Marshal of its HistoryPage:\n got %s\nwant %s", path, body, want)
	}
	if page.Positions == nil {
		t.Fatalf("GET %s: positions is null: %s", path, body)
	}
	return page
}

func historyPath(since, until int64, extra string) string {
	return fmt.Sprintf("/api/history?bbox=%v,%v,%v,%v&since=%d&until=%d%s",
		historyBox[0], historyBox[1], historyBox[2], historyBox[3], since, until, extra)
}

// GET /api/history answers exactly the stored positions inside the box
// during the time, in the documented order (day, unit, time), and pages
// through them with each position on exactly one page.
func TestHistoryAPI(t *testing.T) {
	h := hubtest.Start(t, nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	speed := func(v float64) *float64 { return &v }

	// Four units, 40 fixes each over the last 50 minutes, wandering in and
	// out of the box (which is in the middle of the area they cover).
	start := time.Now().Add(-50 * time.Minute).Truncate(time.Millisecond)
	var sent []wire.HistoryPoint
	for k, id := range []string{"car-1", "car-2", "moto-3", "foot-4"} {
		typ := map[byte]string{'c': "car", 'm': "motorcycle", 'f': "foot"}[id[0]]
		d := hubtest.Connect(t, h.MQTTURL(), id, h.Enrol(id, typ), hubtest.DeviceOptions{})
		var seqs []uint64
		for i := range 40 {
			seq := uint64(i + 1)
			ts := start.Add(time.Duration(i)*70*time.Second + time.Duration(k)*3*time.Second)
			lat := 28.17 + rnd.Float64()*0.06  // 28.17–28.23
			lon := 112.94 + rnd.Float64()*0.07 // 112.94–113.01
			status := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene}[i%3]
			fix := d.Fix(seq, ts, lat, lon, status)
			if i%2 == 0 {
				fix.SpeedMPS = speed(float64(i) / 4)
			}
			d.Send(fix)
			seqs = append(seqs, seq)
			sent = append(sent, wire.HistoryPoint{Unit: id, Seq: seq, TS: fix.TS, Lat: lat, Lon: lon, Status: status,
				SpeedMPS: fix.SpeedMPS})
		}
		d.WaitAcked(seqs...)
	}

	since := start.Add(10 * time.Minute).UnixMilli()
	until := start.Add(35 * time.Minute).UnixMilli()
	// What the answer must be: brute force, in the order Area visits.
	var want []wire.HistoryPoint
	outBox, outTime := 0, 0
	for _, p := range sent {
		switch {
		case !inHistoryBox(p.Lat, p.Lon):
			outBox++
		case p.TS < since || p.TS > until:
			outTime++
		default:
			want = append(want, p)
		}
	}
	slices.SortFunc(want, func(a, b wire.HistoryPoint) int {
		return cmp.Or(cmp.Compare(a.TS/86_400_000, b.TS/86_400_000), strings.Compare(a.Unit, b.Unit),
			cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq))
	})
	if len(want) < 20 || outBox < 20 || outTime < 10 {
		t.Fatalf("the fixtures do not test much: %d inside, %d outside the box, %d inside but outside the time",
			len(want), outBox, outTime)
	}
	t.Logf("%d positions sent, %d inside, %d outside the box, %d inside but outside the time", len(sent), len(want), outBox, outTime)

	t.Run("one page", func(t *testing.T) {
		page := historyPage(t, h, historyPath(since, until, ""))
		if page.Next != "" {
			t.Errorf("next = %q on a page holding everything", page.Next)
		}
		if !reflect.DeepEqual(page.Positions, want) {
			t.Errorf("positions:\n got %s\nwant %s", mustJSON(page.Positions), mustJSON(want))
		}
	})

	t.Run("pages", func(t *testing.T) {
		const limit = 7
		var got []wire.HistoryPoint
		after, pages := "", 0
		for {
			page := historyPage(t, h, historyPath(since, until, fmt.Sprintf("&limit=%d&after=%s", limit, url.QueryEscape(after))))
			pages++
			got = append(got, page.Positions...)
			if page.Next == "" {
				if len(page.Positions) == 0 || len(page.Positions) > limit {
					t.Errorf("last page: %d positions, want 1 to %d", len(page.Positions), limit)
				}
				break
			}
			if len(page.Positions) != limit {
				t.Errorf("page %d: %d positions and a next page, want %d", pages, len(page.Positions), limit)
			}
			if pages > len(want) {
				t.Fatalf("%d pages and no end", pages)
			}
			after = page.Next
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("positions over %d pages:\n got %s\nwant %s", pages, mustJSON(got), mustJSON(want))
		}
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("%d pages, want %d", pages, wantPages)
		}
	})

	t.Run("a smaller box and time", func(t *testing.T) {
		// Half the box, the first few minutes of the range: the filters
		// are the query's, not the fixtures'.
		minLon, minLat, maxLon, maxLat := 112.95, 28.18, 112.975, 28.22
		s, u := since, since+8*60_000
		var sub []wire.HistoryPoint
		for _, p := range want {
			if p.Lon >= minLon && p.Lon <= maxLon && p.Lat >= minLat && p.Lat <= maxLat && p.TS >= s && p.TS <= u {
				sub = append(sub, p)
			}
		}
		page := historyPage(t, h, fmt.Sprintf("/api/history?bbox=%v,%v,%v,%v&since=%d&until=%d", minLon, minLat, maxLon, maxLat, s, u))
		if sub == nil {
			sub = []wire.HistoryPoint{}
		}
		if !reflect.DeepEqual(page.Positions, sub) || page.Next != "" {
			t.Errorf("got %s next %q\nwant %s", mustJSON(page.Positions), page.Next, mustJSON(sub))
		}
	})

	t.Run("an empty box", func(t *testing.T) {
		status, body := historyBody(t, h, fmt.Sprintf("/api/history?bbox=10,10,10.5,10.5&since=%d&until=%d", since, until), "")
		if status != http.StatusOK || string(body) != "{\"positions\":[]}\n" {
			t.Errorf("%d %s, want 200 {\"positions\":[]}", status, body)
		}
	})

	t.Run("31 days is allowed", func(t *testing.T) {
		const month = 31 * 24 * 60 * 60 * 1000
		page := historyPage(t, h, historyPath(until-month, until, ""))
		if n := len(page.Positions); n < len(want) {
			t.Errorf("%d positions over the month to until, want at least %d", n, len(want))
		}
	})
}

func TestHistoryAPIErrors(t *testing.T) {
	h := hubtest.Start(t, nil)
	const box = "bbox=112.9,28.1,113.1,28.3"
	const span = "since=1767225600000&until=1767229200000"
	tests := []struct {
		name, query, token string
		status             int
		message            string
	}{
		{"no token", box + "&" + span, "-", 401, "Bearer"},
		{"wrong token", box + "&" + span, "nope", 401, "Bearer"},
		{"missing bbox", span, "", 400, "bbox is required"},
		{"empty bbox", "bbox=&" + span, "", 400, "bbox is required"},
		{"bbox of 3 numbers", "bbox=112.9,28.1,113.1&" + span, "", 400, "4 numbers"},
		{"bbox of 5 numbers", "bbox=112.9,28.1,113.1,28.3,1&" + span, "", 400, "4 numbers"},
		{"bbox not a number", "bbox=112.9,north,113.1,28.3&" + span, "", 400, `"north"`},
		{"bbox with a space", "bbox=112.9,%2028.1,113.1,28.3&" + span, "", 400, "bbox"},
		{"bbox NaN", "bbox=112.9,NaN,113.1,28.3&" + span, "", 400, "NaN"},
		{"minLat above maxLat", "bbox=112.9,28.3,113.1,28.1&" + span, "", 400, "minLat is above maxLat"},
		{"minLon east of maxLon", "bbox=113.1,28.1,112.9,28.3&" + span, "", 400, "minLon is east of maxLon"},
		{"lat 91", "bbox=112.9,28.1,113.1,91&" + span, "", 400, "latitudes"},
		{"lat -91", "bbox=112.9,-91,113.1,28.3&" + span, "", 400, "latitudes"},
		{"lon 181", "bbox=112.9,28.1,181,28.3&" + span, "", 400, "longitudes"},
		{"missing since", box + "&until=1767229200000", "", 400, "since and until are required"},
		{"missing until", box + "&since=1767229200000", "", 400, "since and until are required"},
		{"since not an integer", box + "&since=yesterday&until=1767229200000", "", 400, "integers"},
		{"since after until", box + "&since=1767229200001&until=1767229200000", "", 400, "since is after until"},
		{"range over 31 days", box + "&since=0&until=2678400001", "", 400, "31 days"},
		{"range overflowing int64", box + "&since=-9223372036854775808&until=9223372036854775807", "", 400, "31 days"},
		{"limit 0", box + "&" + span + "&limit=0", "", 400, "limit"},
		{"limit 100001", box + "&" + span + "&limit=100001", "", 400, "limit"},
		{"limit not a number", box + "&" + span + "&limit=many", "", 400, "limit"},
		{"garbage token", box + "&" + span + "&after=garbage", "", 400, "page token"},
		{"token without a unit", box + "&" + span + "&after=1767225600000.3.", "", 400, "page token"},
		{"token with a bad seq", box + "&" + span + "&after=1767225600000.x.car-1", "", 400, "page token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := historyBody(t, h, "/api/history?"+tt.query, tt.token)
			var e wire.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, body)
			}
			if status != tt.status || !strings.Contains(e.Error, tt.message) {
				t.Errorf("GET /api/history?%s: %d %q, want %d mentioning %q", tt.query, status, e.Error, tt.status, tt.message)
			}
		})
	}
	t.Run("limits that are allowed", func(t *testing.T) {
		for _, q := range []string{"&limit=1", "&limit=100000", "&after=1767225600000.3.car-1", ""} {
			if status, body := historyBody(t, h, "/api/history?"+box+"&"+span+q, ""); status != http.StatusOK {
				t.Errorf("%s: %d %s", q, status, body)
			}
		}
	})
	t.Run("other methods", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/api/history?"+box+"&"+span, nil)
		req.Header.Set("Authorization", "Bearer "+h.AdminToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", resp.StatusCode)
		}
	})
}
