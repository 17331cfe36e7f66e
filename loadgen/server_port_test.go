package loadgen

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// listenReusePort listens on 127.0.0.1:port with SO_REUSEPORT, as another
// echo server's loops would.
func listenReusePort(t *testing.T, port int) {
	t.Helper()
	fd, err := listenTCP(loopback, port, 16, true, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
}

// A server that does not share its ports (ReusePort false: portex echo,
// the host runtime's server) refuses a port another socket listens on,
// with EADDRINUSE, even one that set SO_REUSEPORT as its own loops do;
// servers that share on purpose (ReusePort) still do.
func TestServerRefusesAPortAnotherSocketListensOn(t *testing.T) {
	checkNoLeaks(t)
	port := freePorts(t, 1)[0]
	first, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: port}}, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	refused := func(why string, cfg ServerConfig) {
		t.Helper()
		s, err := StartServer(cfg)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("%s: %v, want EADDRINUSE", why, err)
		}
	}
	refused("a second server on the port", ServerConfig{Addr: loopback, Listeners: []Listener{{Port: port}}, Loops: 2})
	refused("a second server on the wildcard address", ServerConfig{Listeners: []Listener{{Port: port}}, Loops: 2})
	first.Close()

	other := freePorts(t, 1)[0]
	listenReusePort(t, other)
	refused("a port another socket shares with SO_REUSEPORT", ServerConfig{Addr: loopback, Listeners: []Listener{{Port: other}}, Loops: 2})
	shared, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: other}}, ReusePort: true})
	if err != nil {
		t.Fatalf("ReusePort shares on purpose: %v", err)
	}
	shared.Close()

	// The server's own loops still share its port, and it serves.
	s := startEcho(t, Listener{Port: freePorts(t, 1)[0]})
	c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.boundPort(0))))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
