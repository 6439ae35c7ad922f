package ui

import (
	"context"
	"errors"
	"net/url"

	"kuaifan/protocol/api"
)

// The units screen's calls (enrol.go): enrol a device and revoke one. Both
// need the admin role (the hub answers 403 to anyone else; the screen
// shows them only to an admin).

// Enrol is POST /api/units. The answer's secret is shown once: the hub
// keeps only its hash.
func (a *API) Enrol(ctx context.Context, e api.Enrolment) (*api.Enrolled, error) {
	var out api.Enrolled
	if err := a.do(ctx, "POST", "/api/units", e, &out); err != nil {
		return nil, err
	}
	if out.Secret == "" {
		return nil, errors.New("the hub sent no secret")
	}
	return &out, nil
}

// QR is POST /api/qr: the modules of a QR code of text.
func (a *API) QR(ctx context.Context, text string) (api.QRCode, error) {
	var out api.QRCode
	err := a.do(ctx, "POST", "/api/qr", api.QRRequest{Text: text}, &out)
	return out, err
}

// Revoke is DELETE /api/units/{id}: the unit's secret stops working and its
// connection is cut; its history is kept.
func (a *API) Revoke(ctx context.Context, id string) error {
	return a.do(ctx, "DELETE", "/api/units/"+url.PathEscape(id), nil, nil)
}
