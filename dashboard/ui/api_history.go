package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kuaifan/protocol/api"
)

// The calls of the screens of the past: an incident's replay, a unit's
// day (its track and its incidents) and the track's export.

// ReplayTimeout bounds a replay's download: a day of 500 units is tens
// of megabytes, more than the usual call's Timeout allows on a slow link.
const ReplayTimeout = 2 * Timeout

// IncidentReplay is GET /api/incidents/{id}/replay?radius_m=, decoded into
// a Replay at its start.
func (a *API) IncidentReplay(ctx context.Context, id string, radiusM int) (*Replay, error) {
	path := "/api/incidents/" + url.PathEscape(id) + "/replay?radius_m=" + strconv.Itoa(radiusM)
	data, err := a.Raw(ctx, path, ReplayTimeout)
	if err != nil {
		return nil, err
	}
	return DecodeReplay(data)
}

// UnitDayTrack is GET /api/units/{id}/track?since=&until=&limit=: the
// unit's positions in [since, until] (Unix ms), oldest first.
func (a *API) UnitDayTrack(ctx context.Context, unit string, since, until int64) ([]api.TrackPoint, error) {
	var pts []api.TrackPoint
	return pts, a.do(ctx, "GET", TrackPath(unit, since, until, ""), nil, &pts)
}

// TrackPath is the track call's path for a window; format "" is JSON,
// "gpx" or "geojson" an export.
func TrackPath(unit string, since, until int64, format string) string {
	q := url.Values{}
	q.Set("since", strconv.FormatInt(since, 10))
	q.Set("until", strconv.FormatInt(until, 10))
	q.Set("limit", "100000")
	if format != "" {
		q.Set("format", format)
	}
	return "/api/units/" + url.PathEscape(unit) + "/track?" + q.Encode()
}

// UnitIncidents is GET /api/incidents/search?from=&to=&unit=: the
// incidents the unit was sent to among those created in [from, to).
func (a *API) UnitIncidents(ctx context.Context, unit string, from, to int64) (api.ArchivePage, error) {
	var page api.ArchivePage
	q := url.Values{}
	q.Set("from", strconv.FormatInt(from, 10))
	q.Set("to", strconv.FormatInt(to, 10))
	q.Set("unit", unit)
	q.Set("limit", strconv.Itoa(api.ArchiveMaxLimit))
	return page, a.do(ctx, "GET", "/api/incidents/search?"+q.Encode(), nil, &page)
}

// Raw is a GET whose answer is used as it is (an export, or JSON the
// caller decodes itself), with its own time limit.
func (a *API) Raw(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := a.send(ctx, "GET", strings.TrimRight(a.Base, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	status, data := resp.Status, resp.Body
	if status == 401 {
		return nil, ErrUnauthorized
	}
	if status/100 != 2 {
		e := &APIError{Status: status}
		var msg api.Error
		if json.Unmarshal(data, &msg) == nil {
			e.Message = msg.Error
		}
		return nil, e
	}
	return data, nil
}
