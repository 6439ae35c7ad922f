package scenario

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"kuaifan/simulator/citydata"
)

// Builtin returns a scenario shipped with the simulator, freshly decoded
// (callers may change their copy).
func Builtin(name string) (Scenario, bool) {
	if !slices.Contains(BuiltinNames(), name) {
		return Scenario{}, false
	}
	b, err := fs.ReadFile(citydata.Scenarios(), name+".json")
	if err != nil {
		return Scenario{}, false
	}
	s, err := parse(b, name)
	if err != nil {
		// Part of the build, and TestScenarioBuiltins checks every one.
		panic(fmt.Sprintf("simulator: built-in scenario %s: %v", name, err))
	}
	return s, true
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
// that name (as -scenario takes either).
func Open(nameOrFile string) (Scenario, error) {
	if s, ok := Builtin(nameOrFile); ok {
		return s, nil
	}
	s, err := Load(nameOrFile)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: not a built-in (%s) and not a file: %v",
			nameOrFile, strings.Join(BuiltinNames(), ", "), err)
	}
	return s, nil
}
