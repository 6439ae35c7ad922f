#!/bin/sh
# The simulator's figures: a hub in a process of its own (embedded broker),
# then `simulator load` with 10,000 units at 1 Hz for 60 s, then the
# robbery-chase scenario at its default scale. Prints both reports and the
# hub's peak memory. Run from the repository root after make build.
set -eu
dir=$(mktemp -d)
http=127.0.0.1:28080
mqtt=127.0.0.1:21883
GODEBUG=gcshrinkstackoff=1 bin/hub -http $http -mqtt $mqtt -data "$dir" -log-level warn >"$dir/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
for _ in $(seq 50); do [ -s "$dir/admin.token" ] && break; sleep 0.1; done

echo "== simulator load: ${UNITS:-10000} units at 1 Hz for 60 s"
bin/simulator load -hub http://$http -broker tcp://$mqtt -token-file "$dir/admin.token" \
	-units "${UNITS:-10000}" -hz 1 -duration 60s -quiet
echo "hub peak memory: $(grep VmHWM /proc/$hub/status | tr -s ' ')"

echo "== simulator -scenario robbery-chase (default scale)"
start=$(date +%s)
bin/simulator -hub http://$http -broker tcp://$mqtt -token-file "$dir/admin.token" \
	-scenario robbery-chase -prefix chase -quiet
echo "robbery-chase: $(( $(date +%s) - start )) s wall, connect and wind-down included"
