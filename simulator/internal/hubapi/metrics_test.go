package hubapi

import (
	"strings"
	"testing"
)

// A scrape in the hub's form: sums by label, label values listed, deltas
// between two scrapes, a missing metric counts 0, and a broken exposition is
// an error rather than a silent zero.
func TestParseMetrics(t *testing.T) {
	const before = `# HELP kuaifan_ingest_results_total Results.
# TYPE kuaifan_ingest_results_total counter
kuaifan_ingest_results_total{kind="telemetry",result="committed"} 100
kuaifan_ingest_results_total{kind="events",result="committed"} 4
kuaifan_ingest_results_total{kind="telemetry",result="duplicate"} 2
# TYPE kuaifan_ingest_rejected_total counter
kuaifan_ingest_rejected_total{reason="bad_json"} 1
# TYPE kuaifan_stream_clients gauge
kuaifan_stream_clients 3
`
	const after = `# TYPE kuaifan_ingest_results_total counter
kuaifan_ingest_results_total{kind="telemetry",result="committed"} 1100
kuaifan_ingest_results_total{kind="events",result="committed"} 10
kuaifan_ingest_results_total{kind="telemetry",result="duplicate"} 2
# TYPE kuaifan_ingest_rejected_total counter
kuaifan_ingest_rejected_total{reason="bad_json"} 3
kuaifan_ingest_rejected_total{reason="unit_mismatch"} 5
# TYPE kuaifan_stream_clients gauge
kuaifan_stream_clients 1
`
	b, err := parseMetrics(strings.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseMetrics(strings.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"kuaifan_ingest_results_total", []string{"result", "committed"}, 1006},
		{"kuaifan_ingest_results_total", []string{"kind", "telemetry", "result", "committed"}, 1000},
		{"kuaifan_ingest_results_total", []string{"result", "duplicate"}, 0},
		{"kuaifan_ingest_rejected_total", []string{"reason", "unit_mismatch"}, 5},
		{"kuaifan_ingest_rejected_total", nil, 7},
		{"kuaifan_stream_clients", nil, -2},
		{"kuaifan_missing_total", nil, 0},
	} {
		if got := Delta(b, a, tc.name, tc.labels...); got != tc.want {
			t.Errorf("delta %s %v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if got := a.LabelValues("kuaifan_ingest_rejected_total", "reason"); len(got) != 2 || got[0] != "bad_json" || got[1] != "unit_mismatch" {
		t.Errorf("reasons %v", got)
	}
	if got := Delta(nil, a, "kuaifan_stream_clients"); got != 1 {
		t.Errorf("from a nil scrape: %v", got)
	}
	if _, err := parseMetrics(strings.NewReader("kuaifan_x{kind=\"a\" 1\n")); err == nil {
		t.Error("a broken exposition parsed")
	}
}
