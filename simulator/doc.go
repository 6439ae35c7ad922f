// Package simulator runs a city's fleet of patrol units against a hub, for
// demonstrations, end-to-end tests and load.
package simulator
