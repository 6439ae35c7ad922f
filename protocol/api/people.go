package api

import "strings"

// People: accounts, sessions, API tokens and the audit log (additive,
// 2026-12; hub/README.md, "People").

// Roles, each allowed what the ones before it are.
const (
	RoleViewer     = "viewer"     // reads everything
	RoleCallTaker  = "call-taker" // creates incidents, reports sightings
	RoleDispatcher = "dispatcher" // assigns, dismisses offers, closes
	RoleSupervisor = "supervisor" // reopens
	RoleAdmin      = "admin"      // units, accounts, tokens, the audit log
)

// Roles lists the roles from the least to the most allowed.
var Roles = []string{RoleViewer, RoleCallTaker, RoleDispatcher, RoleSupervisor, RoleAdmin}

// RoleAtLeast reports whether role may do what need may. An unknown role
// may nothing.
func RoleAtLeast(role, need string) bool {
	r, n := -1, len(Roles)
	for i, name := range Roles {
		if name == role {
			r = i
		}
		if name == need {
			n = i
		}
	}
	return r >= 0 && r >= n
}

// CSRFHeader carries a session's CSRF token on every write made with the
// session cookie.
const CSRFHeader = "X-CSRF-Token"

// SessionCookie is the name of the session cookie.
const SessionCookie = "kuaifan_session"

// SignIn is the body of POST /api/session.
type SignIn struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Session is who is signed in: the answer of POST and GET /api/session.
type Session struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	CSRF       string `json:"csrf,omitempty"`
	MustChange bool   `json:"must_change,omitempty"`
	Expires    int64  `json:"expires,omitempty"` // Unix ms, the absolute end
	IdleS      int64  `json:"idle_s,omitempty"`
	Token      bool   `json:"token,omitempty"` // a Bearer token, not a session
}

// PasswordChange is the body of POST /api/session/password.
type PasswordChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// User is one account as GET /api/users lists it. Times are Unix ms.
type User struct {
	Name            string `json:"name"`
	Role            string `json:"role"`
	Disabled        bool   `json:"disabled"`
	MustChange      bool   `json:"must_change"`
	Created         int64  `json:"created"`
	PasswordChanged int64  `json:"password_changed"`
	LastSignIn      int64  `json:"last_sign_in,omitempty"`
	LockedUntil     int64  `json:"locked_until,omitempty"`
}

// NewUser is the body of POST /api/users. MustChange defaults to true.
type NewUser struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Password   string `json:"password,omitempty"`
	MustChange *bool  `json:"must_change,omitempty"`
}

// UserChange is the body of PATCH /api/users/{name}; nil fields stay.
type UserChange struct {
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// Credentials answers a call that made a password: shown this once.
type Credentials struct {
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password"`
}

// PasswordReset is the body of POST /api/users/{name}/password; an empty
// Password has the hub make one.
type PasswordReset struct {
	Password string `json:"password,omitempty"`
}

// Token is an API token as GET /api/tokens lists it (never its secret).
type Token struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Created  int64  `json:"created"`
	LastUsed int64  `json:"last_used,omitempty"`
	Revoked  int64  `json:"revoked,omitempty"`
}

// NewToken is the body of POST /api/tokens.
type NewToken struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenCreated answers POST /api/tokens: Token is shown this once.
type TokenCreated struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Token string `json:"token"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq    uint64 `json:"seq"`
	TS     int64  `json:"ts"`               // Unix ms, hub clock
	Actor  string `json:"actor"`            // user:NAME or token:NAME
	Role   string `json:"role"`             // the actor's role at the time
	Addr   string `json:"addr"`             // the client's address
	Action string `json:"action"`           // the route: "POST /api/incidents/{id}/assign"
	Target string `json:"target,omitempty"` // the id acted on
	Status int    `json:"status"`           // the HTTP status answered
	Error  string `json:"error,omitempty"`
	Body   string `json:"body,omitempty"` // the request's JSON, clipped; never a secret
	Prev   string `json:"prev"`           // SHA-256 (hex) of the line before
}

// AuditPage answers GET /api/audit, newest first.
type AuditPage struct {
	Entries    []AuditEntry `json:"entries"`
	NextBefore uint64       `json:"next_before,omitempty"`
}

// Actor prefixes on the timeline and in the audit log.
const (
	ActorUserPrefix  = "user:"
	ActorTokenPrefix = "token:"
)

// ByCaller reports whether an entry's or assignment's actor is a caller of
// the API — a person (user:NAME), a token (token:NAME), or before accounts
// "dispatcher" — rather than the hub (auto, system) or a unit.
func ByCaller(actor string) bool {
	return actor == ActorDispatcher || strings.HasPrefix(actor, ActorUserPrefix) || strings.HasPrefix(actor, ActorTokenPrefix)
}
