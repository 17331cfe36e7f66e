package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

func get(t *testing.T, url, accept string) (string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body), resp.Header.Get("Content-Type")
}

// TestServerServesTheCollector: the server serves the collector's
// metrics as text and as OpenMetrics, as they are at each scrape, and
// Close stops it.
func TestServerServesTheCollector(t *testing.T) {
	c := New()
	c.Begin("churn", plan("baseline"))
	s := &Server{Addr: "127.0.0.1:0", Gatherer: c.Gatherer()}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Listening().String() + "/metrics"
	body, _ := get(t, url, "")
	if !strings.Contains(body, `portex_dials_ok_total{scenario="churn",variant="baseline"} 0`) {
		t.Errorf("the first scrape lacks the zero counter:\n%.2000s", body)
	}
	c.Point(result.Point{T: 1, Attempted: 3, OK: 3})
	body, ctype := get(t, url, "application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(ctype, "application/openmetrics-text") {
		t.Errorf("content type %q, want OpenMetrics", ctype)
	}
	if !strings.Contains(body, `portex_dials_ok_total{scenario="churn",variant="baseline"} 3`) || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("the OpenMetrics scrape lacks the counter at 3, or its end:\n%.2000s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", s.Listening().String(), time.Second); err == nil {
		conn.Close()
		t.Error("still listening after Close")
	}
}

// TestServerRefusesABusyAddress: an address it cannot listen on is
// Start's error.
func TestServerRefusesABusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{Addr: ln.Addr().String(), Gatherer: New().Gatherer()}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a busy address: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close of a server that never started: %v", err)
	}
}

// TestServerStopsWithItsContext: the end of Start's context stops the
// server.
func TestServerStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Addr: "127.0.0.1:0", Gatherer: New().Gatherer()}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("still serving 5s after its context ended")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Error(err)
	}
}
