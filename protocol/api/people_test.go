package api

import "testing"

func TestByCaller(t *testing.T) {
	for actor, want := range map[string]bool{
		"dispatcher": true, "user:wang": true, "token:cad110": true, "token:admin": true,
		"auto": false, "system": false, "car-1": false, "": false, "user": false, "users:x": false,
	} {
		if got := ByCaller(actor); got != want {
			t.Errorf("ByCaller(%q) = %v, want %v", actor, got, want)
		}
	}
}

func TestRoleAtLeast(t *testing.T) {
	for _, tc := range []struct {
		role, need string
		want       bool
	}{
		{RoleAdmin, RoleViewer, true},
		{RoleViewer, RoleViewer, true},
		{RoleViewer, RoleCallTaker, false},
		{RoleDispatcher, RoleCallTaker, true},
		{RoleDispatcher, RoleSupervisor, false},
		{RoleSupervisor, RoleDispatcher, true},
		{"", RoleViewer, false},
		{"root", RoleViewer, false},
		{RoleAdmin, "root", false},
	} {
		if got := RoleAtLeast(tc.role, tc.need); got != tc.want {
			t.Errorf("RoleAtLeast(%q, %q) = %v, want %v", tc.role, tc.need, got, tc.want)
		}
	}
}
