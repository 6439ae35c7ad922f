// Package hub is kuaifan's command-centre server: it runs (or connects to) the
// MQTT broker, ingests what patrol units report, keeps the live state of the
// fleet and its history, ranks units for an incident, and serves the HTTP API.
package hub
