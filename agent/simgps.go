package agent

import "kuaifan/agent/internal/gps"

// SimGPS is the simulated GPS receiver of internal/gps, exported for the
// simulator (another module, which cannot import internal/gps): it is moved
// with Set, loses its fix with SetNoFix, jumps with Jump, and is passed to
// UseGPS.
type SimGPS = gps.Sim

// SimGPSConfig configures a SimGPS: fix interval, noise, seed, clock.
type SimGPSConfig = gps.SimConfig

// NewSimGPS makes a simulated receiver; until its first Set it has no fix.
func NewSimGPS(cfg SimGPSConfig) *SimGPS { return gps.NewSim(cfg) }
