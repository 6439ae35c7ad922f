package scenario

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"kuaifan/protocol/api"
	"kuaifan/simulator/citydata"
)

// Builtin returns a scenario shipped with the simulator, freshly decoded
// (callers may change their copy), with Changsha's sample cameras.
func Builtin(name string) (Scenario, bool) {
	s, ok, err := builtin(name, nil)
	if err != nil {
		// Part of the build, and TestScenarioBuiltins checks every one.
		panic(fmt.Sprintf("simulator: built-in scenario %s: %v", name, err))
	}
	return s, ok
}

// builtin decodes a built-in scenario with a camera set (nil: Changsha's),
// which its camera steps may not fit.
func builtin(name string, cameras []api.Camera) (Scenario, bool, error) {
	if !slices.Contains(BuiltinNames(), name) {
		return Scenario{}, false, nil
	}
	b, err := fs.ReadFile(citydata.Scenarios(), name+".json")
	if err != nil {
		return Scenario{}, false, nil
	}
	s, err := parse(b, name, cameras)
	return s, true, err
}

// BuiltinNames lists the built-in scenarios, sorted.
func BuiltinNames() []string {
	entries, err := fs.ReadDir(citydata.Scenarios(), ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Open is the built-in scenario of that name, or else the scenario file of
// that name (as -scenario takes either), its camera steps checked against
// cameras (as -cameras gives them; nil: Changsha's sample set).
func Open(nameOrFile string, cameras []api.Camera) (Scenario, error) {
	if s, ok, err := builtin(nameOrFile, cameras); ok {
		if err != nil {
			return Scenario{}, fmt.Errorf("built-in %s: %w", nameOrFile, err)
		}
		return s, nil
	}
	s, err := LoadWith(nameOrFile, cameras)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: not a built-in (%s) and not a file: %v",
			nameOrFile, strings.Join(BuiltinNames(), ", "), err)
	}
	return s, nil
}
