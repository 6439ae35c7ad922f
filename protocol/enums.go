package protocol

// Version is the payload version this package speaks: every message carries "v":1.
const Version = 1

// Status is a unit's duty status.
type Status string

const (
	StatusAvailable Status = "available"
	StatusEnroute   Status = "enroute"
	StatusOnScene   Status = "on_scene"
	StatusBusy      Status = "busy"
	StatusOffDuty   Status = "off_duty"
)

// Valid reports whether s is one of the contract's statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusAvailable, StatusEnroute, StatusOnScene, StatusBusy, StatusOffDuty:
		return true
	}
	return false
}

// UnitType is the kind of patrol a unit is.
type UnitType string

const (
	TypeCar        UnitType = "car"
	TypeMotorcycle UnitType = "motorcycle"
	TypeFoot       UnitType = "foot"
	TypeVolunteer  UnitType = "volunteer"
)

// UnitTypes lists every unit type, in a fixed order.
var UnitTypes = [...]UnitType{TypeCar, TypeMotorcycle, TypeFoot, TypeVolunteer}

// Valid reports whether t is one of the contract's unit types.
func (t UnitType) Valid() bool {
	switch t {
	case TypeCar, TypeMotorcycle, TypeFoot, TypeVolunteer:
		return true
	}
	return false
}

// EventType is what an agent reports on its events topic.
type EventType string

const (
	EventAck     EventType = "ack"
	EventDecline EventType = "decline"
	EventArrived EventType = "arrived"
	EventCleared EventType = "cleared"
	EventStatus  EventType = "status"
	// EventSOS is the officer's emergency call: additive (2026-12). It needs
	// no incident; it may carry the unit's position (Event.Lat, Event.Lon).
	EventSOS EventType = "sos"
)

// Valid reports whether t is one of the contract's event types.
func (t EventType) Valid() bool {
	switch t {
	case EventAck, EventDecline, EventArrived, EventCleared, EventStatus, EventSOS:
		return true
	}
	return false
}

// CommandType is what the hub asks of an agent on its cmd topic.
type CommandType string

const (
	CmdDispatch       CommandType = "dispatch"
	CmdCancel         CommandType = "cancel"
	CmdUpdateLocation CommandType = "update_location"
	CmdConfig         CommandType = "config"
	// CmdReposition is a move-up: additive (2026-12). The hub asks a free
	// unit to move to Lat, Lon to improve the city's coverage; the unit
	// stays available for dispatch on the way. Its Incident names the
	// move-up, not an incident.
	CmdReposition CommandType = "reposition"
	// CmdTasks is the unit's patrol tasks now: additive (2026-12). The hub
	// sends it when they change (a shift starts, a plan is edited) and when
	// the unit comes online; Tasks replaces what the unit had (none: no
	// task now). It names no incident.
	CmdTasks CommandType = "tasks"
)

// Valid reports whether t is one of the contract's command types.
func (t CommandType) Valid() bool {
	switch t {
	case CmdDispatch, CmdCancel, CmdUpdateLocation, CmdConfig, CmdReposition, CmdTasks:
		return true
	}
	return false
}

// ValidCapability reports whether c can name a capability ("armed", "medical"):
// 1 to 32 characters of [a-z0-9_-].
func ValidCapability(c string) bool {
	if len(c) == 0 || len(c) > 32 {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}
