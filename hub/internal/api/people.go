package api

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/audit"
	wire "kuaifan/protocol/api"
)

// signIn checks a name and password and sets the session cookie. The call
// must be JSON, and from the hub's own pages if it says where it comes from:
// another site's form cannot sign a browser in.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusBadRequest, "the body is JSON (Content-Type: application/json): {\"name\", \"password\"}")
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			s.refuse(w, http.StatusForbidden, "sign-in from another site's page is refused")
			return
		}
	}
	var body wire.SignIn
	if err := decodeBody(w, r, &body); err != nil || body.Name == "" || body.Password == "" {
		writeError(w, http.StatusBadRequest, `the body is {"name": "…", "password": "…"}`)
		return
	}
	p, cookie, err := s.Access.SignIn(r.Context(), body.Name, body.Password, r.RemoteAddr)
	if err != nil {
		s.accessError(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: wire.SessionCookie, Value: cookie, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	if s.Audit != nil {
		s.audit(r, p, "POST /api/session", wire.AuditEntry{Target: p.Name, Status: http.StatusOK})
	}
	writeJSON(w, http.StatusOK, s.Access.Describe(p))
}

func (s *server) whoAmI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Access.Describe(principal(r)))
}

func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !p.Cookie() {
		writeError(w, http.StatusBadRequest, "a Bearer token has no session to end; revoke the token instead")
		return
	}
	s.Access.SignOut(p)
	http.SetCookie(w, &http.Cookie{Name: wire.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	noteTarget(r, p.Name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	var body wire.PasswordChange
	if err := decodeBody(w, r, &body); err != nil || body.Old == "" || body.New == "" {
		writeError(w, http.StatusBadRequest, `the body is {"old": "…", "new": "…"}`)
		return
	}
	p := principal(r)
	noteTarget(r, p.Name)
	if err := s.Access.ChangePassword(r.Context(), p, body.Old, body.New, r.RemoteAddr); err != nil {
		s.accessError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	users := s.Access.Accounts().Users()
	out := make([]wire.User, 0, len(users))
	for _, u := range users {
		out = append(out, s.Access.UserInfo(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) addUser(w http.ResponseWriter, r *http.Request) {
	var body wire.NewUser
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"name", "role", "password", "must_change"}`)
		return
	}
	role, err := access.ParseRole(body.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := access.NormalName(body.Name)
	noteTarget(r, name+" ("+role.String()+")")
	mustChange := body.MustChange == nil || *body.MustChange
	pw, err := s.Access.AddUser(r.Context(), name, role, body.Password, mustChange)
	if err != nil {
		s.accessError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.Credentials{Name: name, Role: role.String(), Password: pw})
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	var body wire.UserChange
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"role", "disabled"}`)
		return
	}
	var role *access.Role
	if body.Role != nil {
		v, err := access.ParseRole(*body.Role)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		role = &v
	}
	u, err := s.Access.UpdateUser(principal(r), r.PathValue("name"), role, body.Disabled)
	if err != nil {
		s.accessError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Access.UserInfo(u))
}

func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var body wire.PasswordReset
	if err := decodeBody(w, r, &body); err != nil && r.ContentLength != 0 {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"password"} or empty`)
		return
	}
	pw, err := s.Access.ResetPassword(r.Context(), r.PathValue("name"), body.Password)
	if err != nil {
		s.accessError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Credentials{Name: access.NormalName(r.PathValue("name")), Password: pw})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts := s.Access.Accounts().Tokens()
	out := make([]wire.Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.Access.TokenInfo(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var body wire.NewToken
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"name", "role"}`)
		return
	}
	role, err := access.ParseRole(body.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tok, rec, err := s.Access.Accounts().AddToken(body.Name, role)
	if err != nil {
		s.accessError(w, err)
		return
	}
	noteTarget(r, rec.ID+" ("+rec.Name+", "+rec.Role.String()+")")
	writeJSON(w, http.StatusCreated, wire.TokenCreated{ID: rec.ID, Name: rec.Name, Role: rec.Role.String(), Token: tok})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Access.Accounts().RevokeToken(r.PathValue("id")); err != nil {
		s.accessError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) auditLog(w http.ResponseWriter, r *http.Request) {
	if s.Audit == nil {
		writeError(w, http.StatusNotFound, "this hub keeps no audit log")
		return
	}
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action")}
	var err error
	num := func(name string, max int64) int64 {
		if err != nil || !q.Has(name) {
			return 0
		}
		v, perr := strconv.ParseInt(q.Get(name), 10, 64)
		if perr != nil || v < 0 || v > max {
			err = errors.New(name + " is a whole number from 0 to " + strconv.FormatInt(max, 10))
		}
		return v
	}
	f.Since, f.Until = num("since", math.MaxInt64), num("until", math.MaxInt64)
	f.Before = uint64(num("before", math.MaxInt64))
	f.Limit = int(num("limit", audit.MaxLimit))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, qerr := audit.Query(s.Audit.Path(), f)
	if qerr != nil {
		s.fail(w, r, qerr)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// accessError answers an error of the accounts or of a sign-in.
func (s *server) accessError(w http.ResponseWriter, err error) {
	var wait *access.WaitError
	switch {
	case errors.As(err, &wait):
		secs := int(math.Ceil(wait.At.Sub(s.Now()).Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		writeError(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, access.ErrWrongPassword), errors.Is(err, access.ErrSessionEnded):
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, access.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, access.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, access.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, access.ErrExists), errors.Is(err, access.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.Logger.Error("api: accounts", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the hub's log")
	}
}
