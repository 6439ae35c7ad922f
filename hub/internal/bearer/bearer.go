// Package bearer reads the token of an HTTP Authorization header in the
// Bearer scheme (RFC 6750 §2.1). The API and the live stream both take the
// admin token this way and must agree on what they accept.
package bearer

import "strings"

// Token returns the token of an Authorization header value in the Bearer
// scheme, and whether it is one. The scheme's name is case-insensitive
// (RFC 7235 §2.1: "bearer" and "BEARER" are "Bearer"), and one or more spaces
// may separate it from the token (RFC 7235's 1*SP); a tab may not. An empty
// token is not one. The token is returned as sent, for the caller to compare.
func Token(authorization string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(rest, " ")
	return token, token != ""
}
