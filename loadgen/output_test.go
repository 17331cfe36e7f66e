package loadgen

import (
	"strings"
	"testing"
)

// The lines were produced on this kind of machine (Debian, Linux 6.x),
// each runtime in a fresh network namespace (unshare -n) with
// ip_local_port_range "40000 40004" and a listener on 127.0.0.1 that
// accepts and holds: the runtime opened connections until one failed
// (go1.2x net.Dial and http.Get; CPython 3.11 socket.create_connection,
// requests 2.34, urllib; Node 20 net.connect and http.get; OpenJDK 17
// new Socket, java.net.http.HttpClient, URL.openStream; curl 7.88 with
// -sS and -v, 5 connections held by another process). EADDRINUSE: bind()
// to port 0 before connect(), 5-port range. EMFILE: a 1000-port range and
// ulimit -n 30 (curl: 5). Timeouts: a listener with a full backlog, a 1 s
// connect timeout. Lines marked "documented" are the wording of runtimes
// not installed here (.NET, nginx, Rust), from their sources.
var outputLines = []struct {
	line    string
	class   Class
	runtime string
	from    string
}{
	{`dial tcp 127.0.0.1:7000: connect: cannot assign requested address`, ClassEADDRNOTAVAIL, "go", "net.Dial"},
	{`Get "http://127.0.0.1:7000/": dial tcp 127.0.0.1:7000: connect: cannot assign requested address`, ClassEADDRNOTAVAIL, "go", "http.Get"},
	{`2024/05/01 12:00:00 request 17: Get "http://198.18.0.2:7000/": dial tcp 198.18.0.2:7000: connect: cannot assign requested address`, ClassEADDRNOTAVAIL, "go", "log.Print of http.Get's error"},
	{`dial tcp :0->127.0.0.1:7001: bind: address already in use`, ClassEADDRINUSE, "go", "net.Dialer{LocalAddr: &net.TCPAddr{}}"},
	{`dial tcp 127.0.0.1:7000: socket: too many open files`, ClassEMFILE, "go", "net.Dial, ulimit -n 30"},
	{`dial tcp 127.0.0.1:7002: i/o timeout`, ClassETIMEDOUT, "go", "net.DialTimeout 1s"},

	{`OSError: [Errno 99] Cannot assign requested address`, ClassEADDRNOTAVAIL, "python", "socket.create_connection traceback"},
	{`ConnectionError(MaxRetryError('HTTPConnectionPool(host=\'127.0.0.1\', port=7000): Max retries exceeded with url: / (Caused by NewConnectionError("HTTPConnection(host=\'127.0.0.1\', port=7000): Failed to establish a new connection: [Errno 99] Cannot assign requested address"))'))`, ClassEADDRNOTAVAIL, "python", "requests.get, repr"},
	{`HTTPConnectionPool(host='127.0.0.1', port=7000): Max retries exceeded with url: / (Caused by NewConnectionError("HTTPConnection(host='127.0.0.1', port=7000): Failed to establish a new connection: [Errno 99] Cannot assign requested address"))`, ClassEADDRNOTAVAIL, "python", "requests.get, str"},
	{`URLError(OSError(99, 'Cannot assign requested address'))`, ClassEADDRNOTAVAIL, "python", "urllib.request.urlopen"},
	{`OSError: [Errno 98] Address already in use`, ClassEADDRINUSE, "python", "bind(('0.0.0.0', 0)) then connect"},
	{`OSError: [Errno 24] Too many open files`, ClassEMFILE, "python", "create_connection, ulimit -n 30"},
	{`TimeoutError: timed out`, ClassETIMEDOUT, "python", "create_connection(timeout=1)"},

	{`Error: connect EADDRNOTAVAIL 127.0.0.1:7000 - Local (0.0.0.0:0)`, ClassEADDRNOTAVAIL, "node", "net.connect and http.get"},
	{`Error: connect EADDRINUSE 127.0.0.1:7001`, ClassEADDRINUSE, "node", "net.connect with localAddress 0.0.0.0, localPort 0"},
	{`Error: connect EMFILE 127.0.0.1:7000 - Local (undefined:undefined)`, ClassEMFILE, "node", "net.connect, ulimit -n 30"},

	{`java.net.BindException: Cannot assign requested address`, ClassEADDRNOTAVAIL, "java", "new Socket, URL.openStream"},
	{`java.net.ConnectException: Cannot assign requested address`, ClassEADDRNOTAVAIL, "java", "java.net.http.HttpClient"},
	{`java.net.BindException: Address already in use`, ClassEADDRINUSE, "java", "Socket.bind(port 0) then connect"},
	{`java.net.SocketException: Too many open files`, ClassEMFILE, "java", "new Socket, ulimit -n 60"},
	{`java.net.SocketTimeoutException: Connect timed out`, ClassETIMEDOUT, "java", "Socket.connect(addr, 1000)"},

	{`* Immediate connect fail for 127.0.0.1: Cannot assign requested address`, ClassEADDRNOTAVAIL, "curl", "curl -v"},
	{`curl: (7) Failed to connect to 127.0.0.1 port 7003 after 0 ms: Couldn't connect to server`, ClassOther, "curl", "curl -sS, out of ports (also out of descriptors, or refused)"},
	{`curl: (28) Failed to connect to 127.0.0.1 port 7002 after 1000 ms: Timeout was reached`, ClassETIMEDOUT, "curl", "curl --connect-timeout 1"},

	{`System.Net.Sockets.SocketException (99): Cannot assign requested address`, ClassEADDRNOTAVAIL, "dotnet", "documented"},
	{`System.Net.Http.HttpRequestException: Cannot assign requested address (198.18.0.2:7000)`, ClassEADDRNOTAVAIL, "dotnet", "documented"},
	{`System.Net.Sockets.SocketException (24): Too many open files`, ClassEMFILE, "dotnet", "documented"},
	{`2024/05/01 12:00:00 [crit] 7#7: *1 connect() to 198.18.0.2:7000 failed (99: Cannot assign requested address) while connecting to upstream`, ClassEADDRNOTAVAIL, "nginx", "documented"},
	{`Error: Os { code: 99, kind: AddrNotAvailable, message: "Cannot assign requested address" }`, ClassEADDRNOTAVAIL, "", "documented (Rust's Debug form: strerror)"},
	{`Cannot assign requested address (os error 99)`, ClassEADDRNOTAVAIL, "rust", "documented (Rust's Display form)"},
	{`accept4: Too many open files in system`, ClassENFILE, "", "strerror"},
}

func TestClassifyOutput(t *testing.T) {
	for _, tc := range outputLines {
		m, ok := ClassifyOutput(tc.line)
		if !ok || m.Class != tc.class || m.Runtime != tc.runtime {
			t.Errorf("%s (%s): %q\n got %v %q %v, want %v %q", tc.runtime, tc.from, tc.line, m.Class, m.Runtime, ok, tc.class, tc.runtime)
		}
	}
}

// Lines that are no failure of a connect for want of a port, descriptor
// or time.
func TestClassifyOutputIgnores(t *testing.T) {
	for _, line := range []string{
		"",
		`200 OK in 3ms`,
		`Get "http://127.0.0.1:7009/": dial tcp 127.0.0.1:7009: connect: connection refused`,
		`ConnectionRefusedError: [Errno 111] Connection refused`,
		`* connect to 127.0.0.1 port 7009 failed: Connection refused`,
		`* Immediate connect fail for 127.0.0.1: Connection refused`,
		`requests done: 1000, errors: 0`,
		`Errno 990 is not an errno`,
	} {
		if m, ok := ClassifyOutput(line); ok {
			t.Errorf("%q: %v %q, want no match", line, m.Class, m.Runtime)
		}
	}
	long := strings.Repeat("x", maxOutputLine) + "connect: cannot assign requested address"
	if _, ok := ClassifyOutput(long); ok {
		t.Error("a match past the first 4 KiB of a line: want none")
	}
}
