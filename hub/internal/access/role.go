// Package access is who may use the hub's API and what each may do: people's
// accounts with their argon2id passwords, the API tokens of machines, the
// bootstrap admin token, sign-in sessions with their CSRF tokens, backoff and
// lockout of failed sign-ins, and the five roles.
//
// Accounts and tokens live in <data>/accounts.json, which the hub and the
// `hub user` command both edit under a lock; the hub reloads it when it
// changes. Sessions live in memory only.
package access

import (
	"fmt"

	wire "kuaifan/protocol/api"
)

// Role is what a principal may do; each role may do what the ones below it
// may.
type Role uint8

// The roles, least allowed first. Public is no role: a route needing it is
// open to anyone (the rule still has to be written).
const (
	Public Role = iota
	Viewer
	CallTaker
	Dispatcher
	Supervisor
	Admin
)

var roleNames = [...]string{"public", wire.RoleViewer, wire.RoleCallTaker, wire.RoleDispatcher, wire.RoleSupervisor, wire.RoleAdmin}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role's name; "public" is not one.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames[1:] {
		if n == s {
			return Role(i + 1), nil
		}
	}
	return Public, fmt.Errorf("no role %q: want viewer, call-taker, dispatcher, supervisor or admin", s)
}

// Allows reports whether a principal with role r may do what need allows.
func (r Role) Allows(need Role) bool { return r >= need }

// MarshalText writes the role's name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
