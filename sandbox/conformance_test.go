package sandbox_test

import (
	"os"
	"testing"

	"github.com/portex/portex/sandbox"
	"github.com/portex/portex/sandbox/conformance"
	"golang.org/x/sys/unix"
)

// The netns runtime: the test binary is its own agent (see TestMain).
func TestConformanceNetns(t *testing.T) {
	sandbox.NeedsFullTier(t)
	rt := &sandbox.Netns{Stderr: os.Stderr}
	defer rt.Close()
	conformance.Run(t, "netns", rt, conformance.Capabilities{
		WritesSysctls: true, SourceAddresses: 2, Parallel: true,
	})
}

// The host runtime, on a loopback of its own (a fresh network namespace),
// one run at a time: the runs share that loopback and its ports.
func TestConformanceHost(t *testing.T) {
	sandbox.NeedsFullTier(t)
	if !sandbox.PrivateLoopback(t) {
		return
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	t.Logf("kernel %s (IP_LOCAL_PORT_RANGE needs 6.3)", unix.ByteSliceToString(uts.Release[:]))
	rt := &sandbox.Host{}
	defer rt.Close()
	conformance.Run(t, "host", rt, conformance.Capabilities{
		LoopbackReusesTimeWait: true, SourceAddresses: 1,
	})
}
