// Package citydata is the simulator's built-in data, embedded in the
// binary: Changsha's stations, posts, routes and hot spots (changsha.json,
// read by package city, which takes the districts from
// kuaifan/protocol/districts/changsha, the hub's) and the built-in
// scenarios (scenarios/*.json, read by package scenario). The files are
// also examples of the forms -city and -scenario files take (a -city file
// has its districts too).
package citydata

import (
	"bytes"
	"embed"
	"io/fs"
)

//go:embed changsha.json
var changsha []byte

//go:embed scenarios/*.json
var scenarios embed.FS

// Changsha returns a copy of changsha.json.
func Changsha() []byte { return bytes.Clone(changsha) }

// Scenarios is the folder of built-in scenarios, one NAME.json each, at
// its root.
func Scenarios() fs.FS {
	sub, err := fs.Sub(scenarios, "scenarios")
	if err != nil {
		panic("citydata: " + err.Error()) // a fixed, embedded path
	}
	return sub
}
