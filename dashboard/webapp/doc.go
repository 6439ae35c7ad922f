// Package webapp is what kuaifan's go-app pages share — the dispatcher's
// dashboard (dashboard/ui, served by the hub) and the officer's page
// (agent/internal/officerui, served by the agent): the languages and their
// message lookup, the browser's fetch, and serving a gzip-precompressed
// build. One copy, so a fix to any of them reaches both pages.
package webapp
