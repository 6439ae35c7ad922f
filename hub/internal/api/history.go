package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/history"
	wire "kuaifan/protocol/api"
)

// AreaSource is what GET /api/history reads: the store's position history
// (*history.History). visit must not keep p past its return nor call the
// source: Area runs it while a day of the history is held.
type AreaSource interface {
	Area(q history.AreaQuery, visit func(p *history.Position) error) (history.Cursor, error)
}

// Limits of the history call.
const (
	DefaultHistoryLimit = 10_000
	MaxHistoryLimit     = 100_000
	// MaxHistorySpan is the longest time range one history call covers
	// (until - since): a month of every unit in a box is already a lot of
	// pages, and a longer one is several calls.
	MaxHistorySpan = 31 * 24 * time.Hour

	// historyChunk is how many positions go to the client at a time: each
	// chunk is written and flushed.
	historyChunk = 1000
	// historyAhead is how much of the answer (bytes) the history call
	// encodes ahead of a client that reads more slowly than the history is
	// read. Beyond it the call leaves the history (which lets go of the
	// day it holds), waits for the client, and resumes where it stopped:
	// a slow client never holds a day of the history, which a writer that
	// must close the day (a failing disk) would wait for.
	historyAhead = 1 << 20
)

var (
	errPageFull     = errors.New("page full")     // a position beyond the limit: there is a next page
	errClientBehind = errors.New("client behind") // historyAhead reached: leave the day, wait for the client
)

// history serves GET /api/history?bbox=&since=&until=&limit=&after=: the
// stored positions of every unit inside the box during the time, a page at
// a time, written as they are read (see wire.HistoryPage).
func (s *server) history(w http.ResponseWriter, r *http.Request) {
	aq, limit, err := historyQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st := newHistoryStream(r.Context(), w, limit)
	for {
		_, err = s.History.Area(aq, st.visit)
		if !errors.Is(err, errClientBehind) {
			break
		}
		// Out of the history now: wait for the client, then go on after
		// the last position encoded.
		st.handOff(true)
		if err = st.gone(); err != nil {
			break
		}
		aq.After = st.last
	}
	if errors.Is(err, errPageFull) {
		err = nil
	}
	if err == nil {
		err = st.finish()
	}
	if err == nil {
		return
	}
	if !st.started() {
		if r.Context().Err() == nil {
			s.fail(w, r, err)
		}
		return
	}
	// The 200 and part of the page are on their way: the body must not
	// look like a complete page, so the connection is cut without the
	// page's closing (and without the end of a chunked body).
	st.stop()
	if r.Context().Err() != nil || st.broken.Load() {
		s.Logger.Debug("api: history answer not delivered", "path", r.URL.Path, "positions", st.n, "err", err)
	} else {
		s.Logger.Error("api: history answer cut short", "method", r.Method, "path", r.URL.Path, "query", clip.String(r.URL.RawQuery),
			"positions", st.n, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// historyQuery reads and checks the query of GET /api/history.
func historyQuery(v url.Values) (history.AreaQuery, int, error) {
	var q history.AreaQuery
	box := v.Get("bbox")
	if box == "" {
		return q, 0, errors.New("bbox is required: minLon,minLat,maxLon,maxLat in decimal degrees")
	}
	parts := strings.Split(box, ",")
	if len(parts) != 4 {
		return q, 0, fmt.Errorf("bbox must be 4 numbers minLon,minLat,maxLon,maxLat; got %d", len(parts))
	}
	var c [4]float64
	for i, p := range parts {
		f, err := degrees(p)
		if err != nil {
			return q, 0, fmt.Errorf("bbox: %s is %v", clip.Quote(p), err)
		}
		c[i] = f
	}
	q.MinLon, q.MinLat, q.MaxLon, q.MaxLat = c[0], c[1], c[2], c[3]
	switch {
	case q.MinLat < -90 || q.MaxLat > 90 || q.MinLat > 90 || q.MaxLat < -90:
		return q, 0, errors.New("bbox: latitudes must be within -90 to 90")
	case q.MinLon < -180 || q.MaxLon > 180 || q.MinLon > 180 || q.MaxLon < -180:
		return q, 0, errors.New("bbox: longitudes must be within -180 to 180")
	case q.MinLat > q.MaxLat:
		return q, 0, errors.New("bbox: minLat is above maxLat (the order is minLon,minLat,maxLon,maxLat)")
	case q.MinLon > q.MaxLon:
		return q, 0, errors.New("bbox: minLon is east of maxLon (the order is minLon,minLat,maxLon,maxLat; " +
			"a box across the antimeridian is two calls)")
	}

	if v.Get("since") == "" || v.Get("until") == "" {
		return q, 0, errors.New("since and until are required (Unix ms)")
	}
	since, err1 := strconv.ParseInt(v.Get("since"), 10, 64)
	until, err2 := strconv.ParseInt(v.Get("until"), 10, 64)
	if err1 != nil || err2 != nil {
		return q, 0, errors.New("since and until must be integers (Unix ms)")
	}
	if since > until {
		return q, 0, errors.New("since is after until")
	}
	// until >= since, so the difference fits an unsigned int64 even where
	// the signed one overflows.
	if uint64(until)-uint64(since) > uint64(MaxHistorySpan.Milliseconds()) {
		return q, 0, fmt.Errorf("until - since must be at most 31 days (%d ms); split a longer range into several calls",
			MaxHistorySpan.Milliseconds())
	}
	q.Since, q.Until = since, until

	limit, err := intParam(v.Get("limit"), DefaultHistoryLimit)
	if err != nil || limit < 1 || limit > MaxHistoryLimit {
		return q, 0, fmt.Errorf("limit must be an integer from 1 to %d", MaxHistoryLimit)
	}
	if q.After, err = history.ParseCursor(v.Get("after")); err != nil {
		return q, 0, fmt.Errorf("after: %s is not a page token of this call (use the last page's \"next\")",
			clip.Quote(v.Get("after")))
	}
	return q, int(limit), nil
}

// historyStream writes a wire.HistoryPage as the history's positions are
// visited, exactly as json.Marshal of the page (and a newline, as every
// answer of the API). The handler's goroutine encodes, into buf; a writer
// goroutine, started with the answer, writes and flushes what it is handed,
// so that a slow client holds up the encoding, but never inside the
// history (see historyAhead).
type historyStream struct {
	ctx   context.Context
	w     http.ResponseWriter
	limit int

	n    int            // positions encoded
	last history.Cursor // of the last position encoded
	more bool           // there is a position beyond the limit

	buf     []byte // encoded, not handed to the writer yet
	scratch bytes.Buffer
	enc     *json.Encoder

	begun  bool          // the answer has started: its status is sent, or about to be
	out    chan []byte   // to the writer, from the start of the answer until stop
	free   chan []byte   // buffers the writer is done with
	done   chan struct{} // closed when the writer has ended
	broken atomic.Bool   // a write to the client failed
	werr   error         // that failure; read after done
}

func newHistoryStream(ctx context.Context, w http.ResponseWriter, limit int) *historyStream {
	st := &historyStream{ctx: ctx, w: w, limit: limit, free: make(chan []byte, 2)}
	st.enc = json.NewEncoder(&st.scratch)
	st.buf = append(make([]byte, 0, 64<<10), `{"positions":[`...)
	return st
}

// visit encodes one position; Area calls it.
func (st *historyStream) visit(p *history.Position) error {
	if st.n == st.limit {
		st.more = true
		return errPageFull
	}
	if st.n > 0 {
		st.buf = append(st.buf, ',')
	}
	if err := st.encode(wire.HistoryPoint(*p)); err != nil {
		return fmt.Errorf("position of %s at %d: %w", p.Unit, p.TS, err)
	}
	st.n++
	st.last = history.Cursor{TS: p.TS, Seq: p.Seq, Unit: p.Unit}
	if st.n%historyChunk != 0 {
		return nil
	}
	if err := st.gone(); err != nil {
		return err
	}
	if !st.handOff(false) && len(st.buf) >= historyAhead {
		return errClientBehind
	}
	return nil
}

// gone says why the answer cannot reach the client any more, if it cannot.
func (st *historyStream) gone() error {
	if err := st.ctx.Err(); err != nil {
		return err
	}
	if st.broken.Load() {
		return errors.New("writing to the client failed")
	}
	return nil
}

// encode appends v's JSON to buf, as json.Marshal writes it (the Encoder
// escapes HTML the same way; its newline is dropped).
func (st *historyStream) encode(v any) error {
	st.scratch.Reset()
	if err := st.enc.Encode(v); err != nil {
		return err
	}
	st.buf = append(st.buf, bytes.TrimSuffix(st.scratch.Bytes(), []byte("\n"))...)
	return nil
}

// finish encodes the end of the page and waits until the writer has
// written it all; the error is the writer's.
func (st *historyStream) finish() error {
	st.buf = append(st.buf, ']')
	if st.more {
		st.buf = append(st.buf, `,"next":`...)
		if err := st.encode(st.last.String()); err != nil {
			return err
		}
	}
	st.buf = append(st.buf, "}\n"...)
	st.handOff(true)
	st.stop()
	return st.werr
}

// started says whether the answer has started: its status is sent, or
// about to be.
func (st *historyStream) started() bool { return st.begun }

// handOff gives buf to the writer, starting the answer first if need be,
// and reports whether it did: without block, only if the writer takes it
// at once. The writer never stops taking (it drops what it cannot write),
// so a blocking handOff ends.
func (st *historyStream) handOff(block bool) bool {
	if !st.begun {
		st.begun = true
		h := st.w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		st.w.WriteHeader(http.StatusOK)
		st.out, st.done = make(chan []byte, 1), make(chan struct{})
		go st.write()
	}
	if block {
		st.out <- st.buf
	} else {
		select {
		case st.out <- st.buf:
		default:
			return false
		}
	}
	select {
	case b := <-st.free:
		st.buf = b[:0]
	default:
		st.buf = make([]byte, 0, 64<<10)
	}
	return true
}

// stop ends the writer, if it started, once it has written what it was
// handed; after it the ResponseWriter is the handler's again.
func (st *historyStream) stop() {
	if st.out != nil {
		close(st.out)
		<-st.done
		st.out = nil
	}
}

// write writes and flushes each chunk it is handed, until stop.
func (st *historyStream) write() {
	defer close(st.done)
	rc := http.NewResponseController(st.w)
	for b := range st.out {
		if st.werr == nil {
			_, st.werr = st.w.Write(b)
			if st.werr == nil {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					st.werr = err
				}
			}
			if st.werr != nil {
				st.broken.Store(true)
			}
		}
		select {
		case st.free <- b:
		default:
		}
	}
}
