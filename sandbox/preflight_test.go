package sandbox

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/portex/portex/loadgen"
)

func TestPreflightRefusesWhatCannotRun(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	tooMany := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	tooMany.Sandbox.Nofile = lim.Max + 1
	err := Preflight(tooMany)
	if !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), "hard limit") || !strings.Contains(err.Error(), "processes") {
		t.Errorf("nofile above the hard limit: %v", err)
	}

	huge := holdPlan(1_000_000_000, loadgen.PortRange{Lo: 50000, Hi: 50199})
	huge.Sandbox.Nofile = 0
	if err := Preflight(huge); !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("a billion connections: %v", err)
	}

	if err := Preflight(holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})); err != nil {
		t.Errorf("the default scenario's plan: %v", err)
	}
}
