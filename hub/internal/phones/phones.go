package phones

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/ingest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Units is what the phones need of the fleet (*fleet.Fleet).
type Units interface {
	Verify(id, secret string) bool
	ReportsBy(id string) (p api.ReportProtocol, status protocol.Status, ok bool)
}

// Pipeline is what they need of ingest (*ingest.Ingest).
type Pipeline interface {
	Submit(ctx context.Context, t protocol.Telemetry) (fleet.Result, error)
	Rejected(source string, err error)
}

// Config wires the phones' endpoints.
type Config struct {
	Units    Units
	Pipeline Pipeline
	Logger   *slog.Logger
	// MQTTWait bounds how long an OwnTracks publish waits for its commit
	// before the device is told to send it again; default 30 s.
	MQTTWait time.Duration
}

// Phones serves the phone apps' reports. Its handlers are safe for
// concurrent use.
type Phones struct {
	cfg Config
	log *slog.Logger
}

// New returns the phones' endpoints.
func New(cfg Config) *Phones {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MQTTWait <= 0 {
		cfg.MQTTWait = 30 * time.Second
	}
	return &Phones{cfg: cfg, log: cfg.Logger}
}

// Paths of the HTTP endpoints.
const (
	OwnTracksPath = "/api/phones/owntracks"
	OsmAndPath    = "/api/phones/osmand"
)

// Handler serves POST OwnTracksPath and GET|POST OsmAndPath. They take a
// unit's own credentials, not the admin token.
func (p *Phones) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(OwnTracksPath, p.ownTracks)
	mux.HandleFunc(OsmAndPath, p.osmAnd)
	return mux
}

// IsOwnTracks says whether a unit reports as an OwnTracks phone: the
// embedded broker's broker.Config.OwnTracks.
func (p *Phones) IsOwnTracks(unit string) bool {
	proto, _, ok := p.cfg.Units.ReportsBy(unit)
	return ok && proto == api.ReportOwnTracks
}

// refusedCreds is the one answer to a sender that is not the unit it says,
// whatever was wrong.
const refusedCreds = "unknown unit or wrong secret"

// ownTracks takes OwnTracks' HTTP mode: a POST of one message with Basic
// credentials (the unit id and its secret), answered with a JSON list (the
// app reads commands from it; kuaifan sends none).
func (p *Phones) ownTracks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "OwnTracks reports are POSTed")
		return
	}
	unit, secret, ok := r.BasicAuth()
	if !ok || !p.cfg.Units.Verify(unit, secret) {
		p.refuse(w, r)
		return
	}
	if proto, _, _ := p.cfg.Units.ReportsBy(unit); proto != api.ReportOwnTracks {
		writeError(w, http.StatusForbidden, "unit "+unit+" is not enrolled to report by OwnTracks")
		return
	}
	// The app names its user in X-Limit-U (and in the payload's topic): it
	// must be the unit it signed in as.
	if u := r.Header.Get("X-Limit-U"); u != "" && u != unit {
		writeError(w, http.StatusForbidden, "X-Limit-U names another user than the credentials")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	msg, err := DecodeOwnTracks(body)
	if err != nil {
		p.cfg.Pipeline.Rejected("http/owntracks/"+unit, err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if msg.Topic != "" {
		if user, _, _, ok := broker.ParseOwnTracks(msg.Topic); !ok || user != unit {
			writeError(w, http.StatusForbidden, "the message's topic is not the unit's own owntracks/"+unit+"/{device}")
			return
		}
	}
	if msg.Fix != nil {
		if !p.submit(w, r, unit, []Fix{*msg.Fix}) {
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "[]\n")
}

// osmAnd takes the OsmAnd protocol as Traccar Client sends it: a GET or POST
// with the report in the query (or a form body), or a POST of JSON. The
// unit is its id (device_id in JSON); the secret comes as the "secret"
// parameter of the URL (or form), or as Basic credentials of that unit.
func (p *Phones) osmAnd(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "OsmAnd reports are GET or POST")
		return
	}
	q := r.URL.Query()
	basicUser, secret, basic := r.BasicAuth()
	if !basic {
		if vs := q[OsmAndSecret]; len(vs) == 1 {
			secret = vs[0]
		}
	}
	isJSON := false
	var body []byte
	if r.Method == http.MethodPost {
		var ok bool
		if body, ok = readBody(w, r); !ok {
			return
		}
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		trimmed := strings.TrimSpace(string(body))
		isJSON = ct == "application/json" || strings.HasPrefix(trimmed, "{")
		if !isJSON && trimmed != "" {
			form, err := url.ParseQuery(trimmed)
			if err != nil {
				p.cfg.Pipeline.Rejected("http/osmand", syntax("osmand", "the body is neither JSON nor a query"))
				writeError(w, http.StatusBadRequest, "osmand: the body is neither JSON nor a query")
				return
			}
			for k, vs := range form {
				q[k] = append(q[k], vs...)
			}
			if vs := form[OsmAndSecret]; secret == "" && len(vs) == 1 {
				secret = vs[0]
			}
		}
	}
	if secret == "" {
		p.refuse(w, r)
		return
	}
	// Who it is comes first: a stranger learns nothing of what it sent.
	id := osmAndID(q, body, isJSON)
	if id == "" {
		id = basicUser
	}
	if id == "" {
		err := missing("osmand", "id")
		p.cfg.Pipeline.Rejected("http/osmand", err)
		writeError(w, http.StatusBadRequest, err.Error()+" (the unit id: id, deviceid, or device_id in JSON)")
		return
	}
	if (basic && basicUser != id) || !p.cfg.Units.Verify(id, secret) {
		p.refuse(w, r)
		return
	}
	if proto, _, _ := p.cfg.Units.ReportsBy(id); proto != api.ReportOsmAnd {
		writeError(w, http.StatusForbidden, "unit "+id+" is not enrolled to report by OsmAnd")
		return
	}
	var (
		fixes []Fix
		err   error
		got   string
	)
	if isJSON {
		got, fixes, err = DecodeOsmAndJSON(body)
	} else {
		var f Fix
		got, f, err = DecodeOsmAndQuery(q)
		fixes = []Fix{f}
	}
	if err == nil && got != id {
		err = &protocol.Error{Message: "osmand", Field: "id", Reason: protocol.ReasonMismatch,
			Detail: "differs from the unit of the credentials"}
	}
	if err != nil {
		p.cfg.Pipeline.Rejected("http/osmand/"+id, err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !p.submit(w, r, id, fixes) {
		return
	}
	w.WriteHeader(http.StatusOK)
}

// submit puts a unit's fixes through ingest and answers what went wrong;
// it reports whether all of them are on disk.
func (p *Phones) submit(w http.ResponseWriter, r *http.Request, unit string, fixes []Fix) bool {
	for _, f := range fixes {
		err := p.store(r.Context(), unit, f)
		var perr *protocol.Error
		switch {
		case err == nil:
			continue
		case errors.As(err, &perr):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, ingest.ErrUnknownUnit):
			// Revoked since its credentials were checked.
			p.refuse(w, r)
		default:
			p.log.Warn("phones: report not stored", "unit", unit, "err", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the hub could not store the report now; send it again")
		}
		return false
	}
	return true
}

// store submits one fix of unit. The report carries the unit's current
// status (available before it has one): a phone app has no duty status.
func (p *Phones) store(ctx context.Context, unit string, f Fix) error {
	_, status, ok := p.cfg.Units.ReportsBy(unit)
	if !ok {
		return fmt.Errorf("phones: %s: %w", unit, ingest.ErrUnknownUnit)
	}
	if status == "" {
		status = protocol.StatusAvailable
	}
	_, err := p.cfg.Pipeline.Submit(ctx, f.Telemetry(unit, status))
	return err
}

// OwnTracksMQTT takes an OwnTracks publish on owntracks/{unit}/{device} from
// the embedded broker (a broker.ConfirmedHandler): nil once the location is
// on disk, or once it is refused for good (bad input, a unit not enrolled
// for OwnTracks: counted and dropped, since a resend would be refused again);
// an error when the hub could not store it now, so that the phone gets no
// PUBACK and sends it again. The broker's ACL already let only the unit
// itself publish there; this checks again, as ingest does for agents.
func (p *Phones) OwnTracksMQTT(topic string, payload []byte) error {
	user, _, sub, ok := broker.ParseOwnTracks(topic)
	if !ok || sub != "" {
		p.cfg.Pipeline.Rejected(topic, &protocol.Error{Message: "topic", Reason: protocol.ReasonTopic,
			Detail: "not owntracks/{unit}/{device}"})
		return nil
	}
	if !p.IsOwnTracks(user) {
		p.cfg.Pipeline.Rejected(topic, fmt.Errorf("owntracks from %s: %w", user, ingest.ErrUnknownUnit))
		return nil
	}
	msg, err := DecodeOwnTracks(payload)
	if err != nil {
		p.cfg.Pipeline.Rejected(topic, err)
		return nil
	}
	if msg.Fix == nil {
		return nil // a transition, its Last Will, a waypoint…: accepted, not kuaifan's business
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.MQTTWait)
	defer cancel()
	err = p.store(ctx, user, *msg.Fix)
	var perr *protocol.Error
	if err == nil || errors.As(err, &perr) || errors.Is(err, ingest.ErrUnknownUnit) {
		return nil // stored, or refused and counted by ingest
	}
	return err
}

// osmAndID is the unit a report names, read before the report is decoded
// (and so before it is judged): "" if it names none, or more than one.
func osmAndID(q url.Values, body []byte, isJSON bool) string {
	if isJSON {
		var head struct {
			DeviceID string `json:"device_id"`
		}
		_ = json.Unmarshal(body, &head) // what does not decode has no id
		return head.DeviceID
	}
	id, deviceid := q["id"], q["deviceid"]
	switch {
	case len(id) == 1 && len(deviceid) == 0:
		return id[0]
	case len(id) == 0 && len(deviceid) == 1:
		return deviceid[0]
	}
	return ""
}

// refuse answers 401 the same way whatever was wrong — no credentials, an
// unknown unit, a wrong secret — so that nothing is learnt of which units
// exist.
func (p *Phones) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Basic realm="kuaifan"`)
	p.log.Debug("phones: report refused", "path", r.URL.Path, "remote", r.RemoteAddr)
	writeError(w, http.StatusUnauthorized, refusedCreds)
}

// readBody reads a request's body, at most MaxPayload bytes; it answers the
// request itself when it cannot.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxPayload))
		} else {
			writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg})
}
