package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// fakeArea is an AreaSource over a list of positions in Area's order (day,
// unit, time, seq) that resumes after a cursor like Area. hook, if set, runs
// before each position is visited (i counts them over all calls).
type fakeArea struct {
	ps        []history.Position
	failAfter int // > 0: the call fails after visiting this many positions
	hook      func(i int)

	mu      sync.Mutex
	visited int // calls of visit
	calls   int
	inside  bool
	left    []error // what each call returned
}

var errDiskOnFire = errors.New("disk on fire")

func areaOrder(a, b *history.Position) int {
	return cmp.Or(cmp.Compare(a.TS/86_400_000, b.TS/86_400_000), strings.Compare(a.Unit, b.Unit),
		cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq))
}

func (f *fakeArea) Area(q history.AreaQuery, visit func(*history.Position) error) (history.Cursor, error) {
	f.mu.Lock()
	f.calls++
	f.inside = true
	f.mu.Unlock()
	err := f.area(q, visit)
	f.mu.Lock()
	f.inside = false
	f.left = append(f.left, err)
	f.mu.Unlock()
	return history.Cursor{}, err
}

func (f *fakeArea) area(q history.AreaQuery, visit func(*history.Position) error) error {
	i := 0
	if !q.After.IsZero() {
		after := history.Position{TS: q.After.TS, Seq: q.After.Seq, Unit: q.After.Unit}
		if i = slices.IndexFunc(f.ps, func(p history.Position) bool { return areaOrder(&p, &after) > 0 }); i < 0 {
			i = len(f.ps)
		}
	}
	for ; i < len(f.ps); i++ {
		if f.hook != nil {
			f.hook(f.visited)
		}
		if f.failAfter > 0 && f.visited == f.failAfter {
			return errDiskOnFire
		}
		p := f.ps[i] // a copy: visit must not keep it
		err := visit(&p)
		f.visited++
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeArea) state() (calls int, inside bool, left []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.inside, slices.Clone(f.left)
}

// fakePositions makes n positions over two days in Area's order, with the
// optional fields on some.
func fakePositions(n int) []history.Position {
	speed := 8.5
	ps := make([]history.Position, 0, n)
	day0 := int64(1_767_225_600_000) // 2026-01-01 UTC
	for i := range n {
		day := int64(i * 2 / n)
		p := history.Position{Unit: fmt.Sprintf("car-%d", i%7), Seq: uint64(i), TS: day0 + day*86_400_000 + int64(i)*1000,
			Lat: 28.19 + float64(i%100)/10_000, Lon: 112.97 + float64(i%77)/10_000, Status: protocol.StatusAvailable}
		if i%3 == 0 {
			p.SpeedMPS = &speed
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b history.Position) int { return areaOrder(&a, &b) })
	return ps
}

func wantPage(ps []history.Position, next string) wire.HistoryPage {
	page := wire.HistoryPage{Positions: []wire.HistoryPoint{}, Next: next}
	for _, p := range ps {
		page.Positions = append(page.Positions, wire.HistoryPoint(p))
	}
	return page
}

// checkPage decodes a body and compares it with want, and the body with
// json.Marshal of want.
func checkPage(t *testing.T, body []byte, want wire.HistoryPage) {
	t.Helper()
	var got wire.HistoryPage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("the body does not decode: %v (%d bytes)", err, len(body))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("page of %d positions, next %q; want %d, next %q", len(got.Positions), got.Next, len(want.Positions), want.Next)
	}
	b, _ := json.Marshal(want)
	if !bytes.Equal(body, append(b, '\n')) {
		t.Errorf("the body is not json.Marshal of the page")
	}
}

const historyQ = "/api/history?bbox=112.9,28.1,113.1,28.3&since=1767225600000&until=1767398400000"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func historyGet(t *testing.T, addr, path string) *http.Response {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The limit, the peek beyond it and the page token, against the fake.
func TestHistoryPages(t *testing.T) {
	ps := fakePositions(2500)
	addr := serve(t, Config{Access: testAccess(t), History: &fakeArea{ps: ps}})
	var got []history.Position
	after := ""
	for range 4 {
		resp := historyGet(t, addr, historyQ+"&limit=1000&after="+after)
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v %.200s", resp.StatusCode, err, body)
		}
		var page wire.HistoryPage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		start := len(got)
		end := min(start+1000, len(ps))
		next := ""
		if end < len(ps) {
			next = history.Cursor{TS: ps[end-1].TS, Seq: ps[end-1].Seq, Unit: ps[end-1].Unit}.String()
		}
		checkPage(t, body, wantPage(ps[start:end], next))
		got = append(got, ps[start:end]...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(got) != len(ps) {
		t.Errorf("%d positions over the pages, want %d", len(got), len(ps))
	}
}

// The first chunk reaches the client while the history is still being
// read: the answer is streamed, not built and then sent.
func TestHistoryStreams(t *testing.T) {
	ps := fakePositions(3000)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	fake := &fakeArea{ps: ps, hook: func(i int) {
		if i == 1500 {
			select {
			case <-release:
			case <-time.After(10 * time.Second): // the test failed
			}
		}
	}}
	addr := serve(t, Config{Access: testAccess(t), History: fake})
	t.Cleanup(free)
	resp := historyGet(t, addr, historyQ)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var body []byte
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(5 * time.Second)
	for bytes.Count(body, []byte(`"unit"`)) < historyChunk && time.Now().Before(deadline) {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	_, inside, _ := fake.state()
	free()
	if n := bytes.Count(body, []byte(`"unit"`)); n < historyChunk || !inside {
		t.Fatalf("%d positions arrived while the history was still being read (inside: %v), want %d", n, inside, historyChunk)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, append(body, rest...), wantPage(ps, ""))
}

// stallWriter is a ResponseWriter whose first Write waits for release: a
// client that reads nothing.
type stallWriter struct {
	header  http.Header
	status  int
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	body    bytes.Buffer
	flushes int
}

func (w *stallWriter) Header() http.Header { return w.header }
func (w *stallWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *stallWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { <-w.release })
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}
func (w *stallWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
}

// A client that reads nothing does not keep the handler inside the history
// (which holds a day there): the handler leaves it once it has encoded
// historyAhead bytes, waits for the client outside, and then resumes after
// the last position it encoded, so the page is still whole.
func TestHistorySlowClientLeavesTheHistory(t *testing.T) {
	ps := fakePositions(40_000) // ~4 MB
	fake := &fakeArea{ps: ps}
	s := &server{Config: Config{History: fake, Logger: slog.New(slog.DiscardHandler)}}
	w := &stallWriter{header: http.Header{}, release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.history(w, httptest.NewRequest(http.MethodGet, historyQ+"&limit=100000", nil))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls, inside, left := fake.state()
		if calls == 1 && !inside && len(left) == 1 {
			if !errors.Is(left[0], errClientBehind) {
				t.Errorf("the history call ended with %v, want errClientBehind", left[0])
			}
			break
		}
		if time.Now().After(deadline) {
			close(w.release)
			<-done
			t.Fatalf("with the client stalled the handler stays in the history: %d calls, inside %v, left %v", calls, inside, left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(w.release)
	<-done
	if w.status != http.StatusOK {
		t.Fatalf("status %d", w.status)
	}
	if calls, _, _ := fake.state(); calls < 2 || fake.visited != len(ps) {
		t.Errorf("%d calls visiting %d positions, want more than one call and each of %d positions once", calls, fake.visited, len(ps))
	}
	if w.flushes < len(ps)/historyChunk/10 {
		t.Errorf("%d flushes for %d positions", w.flushes, len(ps))
	}
	checkPage(t, w.body.Bytes(), wantPage(ps, ""))
}

// An error once the 200 and part of the page are out cuts the connection:
// the client gets no complete body, and the hub logs it. Before that it is
// a 500.
func TestHistoryFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failAfter int
	}{
		{"before the answer", 10},
		{"mid-stream", 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncBuffer
			addr := serve(t, Config{Access: testAccess(t), History: &fakeArea{ps: fakePositions(5000), failAfter: tc.failAfter},
				Logger: slog.New(slog.NewTextHandler(&log, nil))})
			resp := historyGet(t, addr, historyQ)
			body, err := io.ReadAll(resp.Body)
			if tc.failAfter < historyChunk {
				var e wire.Error
				if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "internal error") {
					t.Errorf("%d %v %.200s, want a 500 JSON error", resp.StatusCode, err, body)
				}
			} else {
				if resp.StatusCode != http.StatusOK || err == nil || json.Valid(body) {
					t.Errorf("status %d, read error %v, %d bytes (valid JSON: %v); want a 200 whose body breaks off",
						resp.StatusCode, err, len(body), json.Valid(body))
				}
				if n := bytes.Count(body, []byte(`"unit"`)); n < historyChunk {
					t.Errorf("%d positions arrived before the failure, want at least %d", n, historyChunk)
				}
			}
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(log.String(), errDiskOnFire.Error()) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if !strings.Contains(log.String(), errDiskOnFire.Error()) {
				t.Errorf("the failure is not logged: %s", log.String())
			}
		})
	}
}
