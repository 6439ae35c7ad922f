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
