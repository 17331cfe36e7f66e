package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunRefusesMetricsFlags: a linger without a listener, and an
// address that cannot be listened on, are refused before anything runs
// and before a report folder is made.
func TestRunRefusesMetricsFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	got := portex(t, context.Background(), "run", "--metrics-linger", "5s")
	if got.code != exitUsage || !strings.Contains(got.stderr, "--metrics-linger needs --metrics-listen") {
		t.Errorf("linger alone: exit %d, stderr %q", got.code, got.stderr)
	}
	got = portex(t, context.Background(), "run", "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "-1s")
	if got.code != exitUsage || !strings.Contains(got.stderr, "--metrics-linger -1s: want 0 or more") {
		t.Errorf("negative linger: exit %d, stderr %q", got.code, got.stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got = portex(t, context.Background(), "run", "time-wait-churn", "--metrics-listen", ln.Addr().String())
	if got.code != exitUsage || !strings.Contains(got.stderr, "--metrics-listen "+ln.Addr().String()) ||
		!strings.Contains(got.stderr, "address already in use") {
		t.Errorf("busy address: exit %d, stderr %q", got.code, got.stderr)
	}
	if _, err := os.Stat("portex-results"); err == nil {
		t.Error("a refused run made ./portex-results")
	}
}

// prometheusBinary finds Debian's prometheus, or skips; under
// PORTEX_CI=1 (.ci/run installs it) a missing one fails the test.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("PORTEX_CI") == "1" {
			t.Fatalf("PORTEX_CI=1 and no prometheus binary: %v", err)
		}
		t.Skipf("no prometheus binary (apt-get install prometheus): %v", err)
	}
	return bin
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

// promQuery asks Prometheus's HTTP API for query at the present.
func promQuery(t *testing.T, addr, query string) []promSample {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", query, body.Error)
	}
	return body.Data.Result
}

// sampleValue is a sample pair's value.
func sampleValue(t *testing.T, v [2]any) float64 {
	t.Helper()
	s, _ := v[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("sample %v: %v", v, err)
	}
	return f
}

// TestMetricsScrapedByPrometheus runs a bundled scenario (two variants)
// with --metrics-listen while a real Prometheus scrapes it, then asks
// Prometheus: the final counters it holds equal result.json's, and the
// counters moved while the variants ran (the metrics are live, not only
// the result's).
func TestMetricsScrapedByPrometheus(t *testing.T) {
	needsFullTier(t)
	prom := prometheusBinary(t)
	bin := buildPortex(t)
	dir := t.TempDir()
	metricsPort, promPort := freePort(t), freePort(t)
	for promPort == metricsPort {
		promPort = freePort(t)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	promAddr := fmt.Sprintf("127.0.0.1:%d", promPort)
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: portex
    static_configs:
      - targets: ['%s']
`, metricsAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	var promOut bytes.Buffer
	pcmd := exec.Command(prom, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	pcmd.Stdout, pcmd.Stderr = &promOut, &promOut
	if err := pcmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pcmd.Process.Kill()
		pcmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", promOut.String())
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + promAddr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	out := filepath.Join(dir, "out")
	var stderr bytes.Buffer
	run := exec.Command(bin, "run", "time-wait-churn", "--variant", "baseline,tw-reuse", "--out", out,
		"--metrics-listen", metricsAddr, "--metrics-linger", "2m")
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		run.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("portex:\n%s", stderr.String())
		}
	}()
	// result.json is written before the linger begins.
	for deadline := time.Now().Add(90 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil && strings.Contains(stderr.String(), "--metrics-linger") {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("portex exited before its linger: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no result.json after 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rf := readResult(t, out)
	if len(rf.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(rf.Runs))
	}

	// What Prometheus holds of each variant once it has scraped the
	// final values: the counters as result.json has them.
	type check struct {
		query string
		want  float64
	}
	var checks []check
	for _, r := range rf.Runs {
		sel := fmt.Sprintf(`{scenario="time-wait-churn",variant=%q}`, r.Variant)
		exhausted := 0.0
		if r.Exhaustion != nil {
			exhausted = 1
		}
		checks = append(checks,
			check{"portex_running" + sel, 0},
			check{"portex_dials_attempted_total" + sel, float64(r.Dials.Attempted)},
			check{"portex_dials_ok_total" + sel, float64(r.Dials.OK)},
			check{"portex_dials_failed_total" + sel, float64(r.Dials.Failed)},
			check{"portex_dropped_arrivals_total" + sel, float64(r.Dropped)},
			check{"portex_exhausted" + sel, exhausted},
		)
		for class, n := range r.Failures {
			checks = append(checks, check{fmt.Sprintf(`portex_dial_failures_total{variant=%q,class=%q}`, r.Variant, class), float64(n)})
		}
		for _, p := range r.Pools {
			checks = append(checks,
				check{fmt.Sprintf(`portex_pool_dials_ok_total{variant=%q,pool=%q}`, r.Variant, p.Name), float64(p.Dials.OK)},
				check{fmt.Sprintf(`portex_connect_latency_seconds_count{variant=%q,pool=%q}`, r.Variant, p.Name), float64(p.Latency.Connect.Count)})
		}
		if r.Dials.Attempted == 0 {
			t.Errorf("variant %s attempted no dial", r.Variant)
		}
	}
	if rf.Runs[0].Exhaustion == nil || rf.Runs[1].Exhaustion != nil {
		t.Errorf("baseline exhaustion %+v, tw-reuse %+v: want the baseline exhausted only", rf.Runs[0].Exhaustion, rf.Runs[1].Exhaustion)
	}
	var last []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		last = last[:0]
		for _, c := range checks {
			res := promQuery(t, promAddr, c.query)
			switch {
			case len(res) != 1:
				last = append(last, fmt.Sprintf("%s: %d series", c.query, len(res)))
			case sampleValue(t, res[0].Value) != c.want:
				last = append(last, fmt.Sprintf("%s = %v, result.json says %v", c.query, sampleValue(t, res[0].Value), c.want))
			}
		}
		if len(last) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the run, Prometheus holds:\n%s", strings.Join(last, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ex := rf.Runs[0].Exhaustion; ex != nil {
		res := promQuery(t, promAddr, `portex_exhaustion_seconds{variant="baseline"}`)
		if len(res) != 1 || sampleValue(t, res[0].Value) != ex.AtSeconds {
			t.Errorf("exhaustion time %v, result.json says %v", res, ex.AtSeconds)
		}
	}

	// Per destination: the most ports in use Prometheus saw toward the
	// destination is result.json's peak for it, when a scrape caught it
	// (the peak stays until the next full sample), and never above it.
	for _, r := range rf.Runs {
		for _, d := range r.Destinations {
			q := fmt.Sprintf(`max_over_time(portex_destination_ports_in_use{variant=%q,destination=%q}[10m])`, r.Variant, d.Destination)
			res := promQuery(t, promAddr, q)
			if len(res) != 1 || sampleValue(t, res[0].Value) > float64(d.PortsInUse) || sampleValue(t, res[0].Value) <= 0 {
				t.Errorf("%s = %v: want at most result.json's peak %d, and some", q, res, d.PortsInUse)
			}
		}
		if len(r.Destinations) == 0 {
			t.Errorf("variant %s: no destination peaks in result.json", r.Variant)
		}
	}

	// Live: some scrape taken while a variant ran saw its dials already.
	live := 0
	for _, r := range rf.Runs {
		sel := fmt.Sprintf(`{variant=%q}`, r.Variant)
		running := promQuery(t, promAddr, "portex_running"+sel+"[10m]")
		attempted := promQuery(t, promAddr, "portex_dials_attempted_total"+sel+"[10m]")
		if len(running) != 1 || len(attempted) != 1 {
			t.Fatalf("variant %s: %d running series, %d attempted series", r.Variant, len(running), len(attempted))
		}
		at := map[float64]float64{}
		for _, v := range attempted[0].Values {
			ts, _ := v[0].(float64)
			at[ts] = sampleValue(t, v)
		}
		for _, v := range running[0].Values {
			ts, _ := v[0].(float64)
			if sampleValue(t, v) == 1 && at[ts] > 0 && at[ts] < float64(r.Dials.Attempted) {
				live++
			}
		}
	}
	if live == 0 {
		t.Error("no scrape saw a variant running with part of its dials counted: the metrics only came at the end")
	}
	t.Logf("%d scrapes saw a variant under way", live)

	// The dashboard's queries and the alert rules are valid PromQL, and
	// each panel's finds series in the run.
	data, err := os.ReadFile("../../examples/grafana/portex.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$scenario", ".*", "$variant", ".*")
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			if res := promQuery(t, promAddr, vars.Replace(tg.Expr)); len(res) == 0 {
				t.Errorf("panel %q: %s finds no series", p.Title, tg.Expr)
			}
		}
	}
	if queries < 8 {
		t.Errorf("the dashboard has %d queries", queries)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(prom), "promtool"), "check", "rules", "../../examples/prometheus/portex-alerts.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	if res := promQuery(t, promAddr, `portex_exhaustion_seconds and on(scenario, variant) portex_exhausted == 1`); len(res) != 1 || res[0].Metric["variant"] != "baseline" {
		t.Errorf("the exhaustion alert's expression finds %v, want the baseline", res)
	}

	// A signal ends the linger; the run's exit code stands.
	run.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("portex after its linger: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("portex still lingers 10s after SIGINT")
	}
}
