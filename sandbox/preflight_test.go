package sandbox

import (
	"errors"
	"os"
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

// Each worker holds two payload buffers (the message and its echo):
// 10,000 workers with 16 MiB payloads need about 320 GiB, and are refused
// at the pool and its keys; an open pool has a worker per slot.
func TestPreflightCountsPayloadBuffers(t *testing.T) {
	// The range holds every worker's connection: none is capped away.
	fat := holdPlan(10_000, loadgen.PortRange{Lo: 20000, Hi: 60000})
	fat.Pools[0].Name, fat.Pools[0].Messages, fat.Pools[0].Payload = "fat", 1, 16<<20
	err := Preflight(fat)
	if !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), `pool "fat": workers 10000 x payload 16777216 bytes`) ||
		!strings.Contains(err.Error(), "lower the pool's workers or payload") {
		t.Errorf("10,000 workers x 16 MiB: %v", err)
	}
	open := holdPlan(1, loadgen.PortRange{Lo: 20000, Hi: 60000})
	open.Pools[0] = loadgen.Pool{Name: "wide", Rate: 10, MaxInFlight: 10_000, Messages: 1, Payload: 16 << 20}
	if err := Preflight(open); !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), `pool "wide": max_in_flight 10000`) {
		t.Errorf("10,000 slots x 16 MiB: %v", err)
	}
	small := holdPlan(100, loadgen.PortRange{Lo: 50000, Hi: 50199})
	small.Pools[0].Messages, small.Pools[0].Payload = 1, 64<<10
	if err := Preflight(small); err != nil {
		t.Errorf("100 workers x 64 KiB: %v", err)
	}
}

// A sysctl the running kernel lacks is refused before anything starts,
// naming the key, the sysctl, the kernel and (for those the allowlist
// knows) the release that brought it.
func TestPreflightRefusesASysctlThisKernelLacks(t *testing.T) {
	p := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Server.Sysctls = map[string]string{"net.ipv4.tcp_no_such_knob": "1"}
	err := Preflight(p)
	if !errors.Is(err, ErrUnrunnable) || !strings.Contains(err.Error(), "server.sysctls: net.ipv4.tcp_no_such_knob: this kernel (Linux ") {
		t.Errorf("a sysctl no kernel has: %v", err)
	}
	p = holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Sandbox.Sysctls[loadgen.SysctlTwReuseDelay] = "200"
	err = Preflight(p)
	_, statErr := os.Stat("/proc/sys/net/ipv4/tcp_tw_reuse_delay")
	switch {
	case statErr == nil && err != nil:
		t.Errorf("tcp_tw_reuse_delay on a kernel that has it: %v", err)
	case statErr != nil && (err == nil || !strings.Contains(err.Error(), "it came in Linux 6.13")):
		t.Errorf("tcp_tw_reuse_delay on a kernel without it: %v", err)
	}
}
