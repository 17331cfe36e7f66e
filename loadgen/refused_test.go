package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// A run whose every dial is refused (nothing listens) stops after
// refusedLimit of them, as an error that says so, instead of counting
// refusals until its duration ends.
func TestRunStopsWhenEveryDialIsRefused(t *testing.T) {
	checkNoLeaks(t)
	ports := freePorts(t, 1) // free: nothing listens there
	for _, pool := range []Pool{
		{Name: "closed", Workers: 4, Messages: 1, Payload: 8, Close: CloseClient},
		{Name: "open", Rate: 2000, MaxInFlight: 50, Messages: 1, Payload: 8, Close: CloseClient},
	} {
		p := plan(ports, pool)
		p.Duration = 30 * time.Second
		start := time.Now()
		res, err := Run(context.Background(), p, Options{Target: loopback})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: the run took %s: it did not stop on the refusals", pool.Name, took)
		}
		if res.Stopped != result.StoppedError || !strings.Contains(res.Error, "all refused (ECONNREFUSED)") || !strings.Contains(res.Error, "127.0.0.1") {
			t.Errorf("%s: stopped %q, error %q: want an error that every dial was refused", pool.Name, res.Stopped, res.Error)
		}
		if res.Dials.OK != 0 || res.Failures["ECONNREFUSED"] < refusedLimit {
			t.Errorf("%s: ok %d, refused %d", pool.Name, res.Dials.OK, res.Failures["ECONNREFUSED"])
		}
	}
}

// Refusals after an accepted dial are measured, not a reason to stop: the
// server went away mid-run, which the run shows.
func TestRunKeepsGoingWhenRefusalsFollowAnAcceptedDial(t *testing.T) {
	needsFullTier(t, "a run of two seconds")
	checkNoLeaks(t)
	ports := freePorts(t, 1)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "closed", Workers: 4, Messages: 1, Payload: 8, Close: CloseClient})
	p.Duration = 2 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv.Close()
	}()
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != result.StoppedDuration || res.Error != "" {
		t.Errorf("stopped %q, error %q: want the whole duration", res.Stopped, res.Error)
	}
	if res.Dials.OK == 0 || res.Failures["ECONNREFUSED"] < refusedLimit {
		t.Errorf("ok %d, refused %d: want both", res.Dials.OK, res.Failures["ECONNREFUSED"])
	}
}
