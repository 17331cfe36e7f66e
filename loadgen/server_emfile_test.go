package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// echoOnce sends msg on c and reads its echo.
func echoOnce(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// A server out of descriptors leaves the connection it cannot accept in
// the backlog without stalling the connections it serves, and accepts it
// once a descriptor frees.
func TestServerOutOfDescriptorsServesOn(t *testing.T) {
	ports := freePorts(t, 1)
	srv, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: ports[0]}}, Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := netip.AddrPortFrom(loopback, uint16(ports[0])).String()
	a, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	msg := []byte("ping")
	if err := echoOnce(a, msg); err != nil {
		t.Fatal(err)
	}

	// Fill the descriptor table but one, under a lowered limit, and take
	// that one with a dial the server then cannot accept.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(len(ents) + 64)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fillers []int
	release := func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	defer release()
	for {
		fd, err := unix.Dup(0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	b, err := net.Dial("tcp4", addr) // the handshake completes in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The served connection goes on at its own pace meanwhile.
	start := time.Now()
	const trips = 20
	for range trips {
		if err := echoOnce(a, msg); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	errs := srv.Counts().Errors
	release()
	if errs == 0 {
		t.Error("the server saw no accept failure: the test did not run out of descriptors")
	}
	if took > 100*time.Millisecond {
		t.Errorf("%d echoes on a served connection took %s while another waited to be accepted", trips, took)
	}
	// A descriptor is free: the waiting connection is accepted and served.
	if err := echoOnce(b, msg); err != nil {
		t.Errorf("the connection left in the backlog: %v", err)
	}
}
