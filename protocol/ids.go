package protocol

// MaxUnitIDLen and MaxIncidentIDLen bound identifiers; both use the alphabet
// [A-Za-z0-9_-], which is safe in topics, URLs, file names and logs.
const (
	MaxUnitIDLen     = 32
	MaxIncidentIDLen = 64
	maxBootLen       = 64
	maxTextLen       = 256
)

// ValidUnitID reports whether id matches [A-Za-z0-9_-]{1,32}.
func ValidUnitID(id string) bool { return validID(id, MaxUnitIDLen) }

// ValidIncidentID reports whether id matches [A-Za-z0-9_-]{1,64}.
func ValidIncidentID(id string) bool { return validID(id, MaxIncidentIDLen) }

func validID(id string, max int) bool {
	if len(id) == 0 || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Bounds of a unit's MQTT secret as a config command carries it (the hub
// makes 43-character ones: 256 random bits in unpadded base64url).
const (
	MinSecretLen = 16
	MaxSecretLen = 256
)

// ValidSecret reports whether s can be a unit's secret: 16 to 256 bytes of
// printable ASCII without spaces, so that it survives a flag, a config
// file and a shell unchanged.
func ValidSecret(s string) bool {
	if len(s) < MinSecretLen || len(s) > MaxSecretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
