package ui

import (
	"context"

	"kuaifan/protocol/api"
)

// The session's calls (hub/README.md, "People"). A person signs in with a
// name and a password; the hub answers who they are, with the session's
// CSRF token, and sets its HttpOnly cookie, which the browser keeps.

// SignIn is POST /api/session. ErrUnauthorized is a wrong name or password;
// a 429 (*APIError with RetryAfter) says to wait, the hub backing off or the
// name locked.
func (a *API) SignIn(ctx context.Context, name, password string) (*api.Session, error) {
	var s api.Session
	if err := a.do(ctx, "POST", "/api/session", api.SignIn{Name: name, Password: password}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Session is GET /api/session: who is signed in, ErrUnauthorized if no one
// (any more). It counts as activity: it keeps the session alive.
func (a *API) Session(ctx context.Context) (*api.Session, error) {
	var s api.Session
	if err := a.do(ctx, "GET", "/api/session", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SignOut is DELETE /api/session: the hub ends the session and clears the
// cookie.
func (a *API) SignOut(ctx context.Context) error {
	return a.do(ctx, "DELETE", "/api/session", nil, nil)
}

// ChangePassword is POST /api/session/password. ErrUnauthorized here may be
// a wrong old password as well as an ended session (the controller asks
// GET /api/session which).
func (a *API) ChangePassword(ctx context.Context, old, new string) error {
	return a.do(ctx, "POST", "/api/session/password", api.PasswordChange{Old: old, New: new}, nil)
}
