//go:build !linux

package access

// lowerPriority does nothing elsewhere: the hub runs on Linux.
func lowerPriority() error { return nil }
