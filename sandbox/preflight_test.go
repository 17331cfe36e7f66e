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

	// A billion holders in 200 ports hold 200 connections: memory is
	// no reason to refuse them. Spread over the whole port space, 64
	// server ports and 64 source addresses, they could hold far more
	// than memory does.
	if err := Preflight(holdPlan(1_000_000_000, loadgen.PortRange{Lo: 50000, Hi: 50199})); err != nil {
		t.Errorf("a billion holders in 200 ports: %v", err)
	}
	huge := holdPlan(1_000_000_000, loadgen.PortRange{})
	huge.Sandbox.Nofile = 0
	huge.Pools[0].Sources, huge.Pools[0].Ports = 64, nil
	for port := 7000; port < 7064; port++ {
		huge.Pools[0].Ports = append(huge.Pools[0].Ports, port)
	}
	if err := Preflight(huge); !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("a billion connections over 64 ports and 64 sources: %v", err)
	}

	if err := Preflight(holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})); err != nil {
		t.Errorf("the default scenario's plan: %v", err)
	}
}
