package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		what string
		in   string
		want httpRequest
		used int
		res  httpParse
	}{
		{"a GET of HTTP/1.1 keeps the connection", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			httpRequest{keepAlive: true}, 27, httpOK},
		{"only the first request is parsed", "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
			httpRequest{keepAlive: true}, 18, httpOK},
		{"Connection: close ends it", "GET / HTTP/1.1\r\nconnection: Close\r\n\r\n",
			httpRequest{}, 37, httpOK},
		{"close among other tokens", "GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n",
			httpRequest{}, 46, httpOK},
		{"HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n",
			httpRequest{}, 18, httpOK},
		{"HTTP/1.0 keeps with keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			httpRequest{keepAlive: true}, 42, httpOK},
		{"HEAD gets no body", "HEAD /x HTTP/1.1\r\n\r\n",
			httpRequest{head: true, keepAlive: true}, 20, httpOK},
		{"a body's length", "POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello",
			httpRequest{keepAlive: true, bodyLen: 12}, 39, httpOK},
		{"a head not all in", "GET / HTTP/1.1\r\nHost: x\r\n", httpRequest{}, 0, httpMore},
		{"nothing yet", "", httpRequest{}, 0, httpMore},
		{"not HTTP", "HELLO\r\n\r\n", httpRequest{}, 0, httpBad},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", httpRequest{}, 0, httpBad},
		{"a header without a colon", "GET / HTTP/1.1\r\nbroken\r\n\r\n", httpRequest{}, 0, httpBad},
		{"a bad length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", httpRequest{}, 0, httpBad},
		{"chunked bodies are refused", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", httpRequest{}, 0, httpChunked},
		{"a head over the limit", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead), httpRequest{}, 0, httpTooLarge},
	} {
		req, used, res := parseRequest([]byte(tc.in))
		if req != tc.want || used != tc.used || res != tc.res {
			t.Errorf("%s: parseRequest(%q) = %+v, %d, %d; want %+v, %d, %d", tc.what, tc.in, req, used, res, tc.want, tc.used, tc.res)
		}
	}
}

// startHTTP starts the bundled server with one HTTP listener on a free
// loopback port and returns it with the listener's URL.
func startHTTP(t *testing.T, l Listener) (*Server, string) {
	t.Helper()
	l.Port, l.Protocol = freePorts(t, 1)[0], ProtoHTTP
	s := startEcho(t, l)
	return s, "http://127.0.0.1:" + strconv.Itoa(l.Port) + "/"
}

// get makes n requests one after another, reading each body to EOF.
func get(t *testing.T, c *http.Client, url string, n int, pause time.Duration) (closes int) {
	t.Helper()
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != httpBody {
			t.Fatalf("GET: %v, %d %q", err, resp.StatusCode, body)
		}
		if resp.Close {
			closes++
		}
		time.Sleep(pause)
	}
	return closes
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 10}}
}

// waitCounts waits until the server has closed every connection, so that
// its counters are final.
func waitClosed(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); s.Open() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d connections", s.Open())
		}
	}
}

// A client that keeps its connection alive sends every request on one.
func TestHTTPKeepsAlive(t *testing.T) {
	checkNoLeaks(t)
	s, url := startHTTP(t, Listener{})
	c := newClient()
	if closes := get(t, c, url, 100, 0); closes != 0 {
		t.Errorf("%d responses said Connection: close, want none", closes)
	}
	c.CloseIdleConnections()
	waitClosed(t, s)
	got := s.Counts()
	if got.Requests != 100 || got.Accepted != 1 || got.ClosedByPeer != 1 || got.ClosedByServer != 0 || got.Errors != 0 {
		t.Errorf("counts %+v: want 100 requests on 1 connection, closed by the client", got)
	}
	s.Close()
}

// keepalive_requests: 3 gives a connection three responses, the third
// saying Connection: close, then the server closes it.
func TestHTTPKeepaliveRequests(t *testing.T) {
	s, url := startHTTP(t, Listener{KeepaliveRequests: 3})
	c := newClient()
	if closes := get(t, c, url, 10, 0); closes != 3 {
		t.Errorf("%d responses said Connection: close, want 3 (the 3rd, 6th and 9th)", closes)
	}
	c.CloseIdleConnections()
	waitClosed(t, s)
	got := s.Counts()
	if got.Requests != 10 || got.Accepted != 4 || got.ClosedByServer != 3 || got.ClosedByPeer != 1 {
		t.Errorf("counts %+v: want 10 requests on 4 connections, 3 closed by the server", got)
	}
}

// idle_timeout: a kept-alive connection idle longer is closed by the
// server, and the client's next request comes on a new one.
func TestHTTPIdleTimeout(t *testing.T) {
	s, url := startHTTP(t, Listener{IdleClose: 100 * time.Millisecond})
	c := newClient()
	get(t, c, url, 3, 0)                    // one connection
	get(t, c, url, 2, 300*time.Millisecond) // the 4th on it too, the 5th on a new one
	waitClosed(t, s)
	got := s.Counts()
	if got.Requests != 5 || got.Accepted != 2 || got.ClosedByServer != 2 || got.ClosedByPeer != 0 {
		t.Errorf("counts %+v: want 5 requests on 2 connections, both closed idle by the server", got)
	}
}

// A client that asks for Connection: close gets it: a connection each.
func TestHTTPHonoursConnectionClose(t *testing.T) {
	s, url := startHTTP(t, Listener{})
	c := newClient()
	for range 5 {
		req, _ := http.NewRequest("GET", url, nil)
		req.Close = true
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !resp.Close {
			t.Error("the response did not say Connection: close")
		}
	}
	waitClosed(t, s)
	if got := s.Counts(); got.Requests != 5 || got.Accepted != 5 || got.ClosedByServer != 5 {
		t.Errorf("counts %+v: want 5 requests on 5 connections, each closed by the server", got)
	}
}

// Pipelined requests, a body that comes in pieces, HEAD and a request
// that is not HTTP, on a raw connection.
func TestHTTPRawConnection(t *testing.T) {
	s, url := startHTTP(t, Listener{})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	read := func(method string) *http.Response {
		t.Helper()
		resp, err := http.ReadResponse(r, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if want := map[string]string{"GET": httpBody, "HEAD": "", "POST": httpBody}[method]; resp.StatusCode == 200 && string(body) != want {
			t.Errorf("%s: body %q, want %q", method, body, want)
		}
		return resp
	}
	// Three requests in one write, answered in order.
	c.Write([]byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2) + "HEAD / HTTP/1.1\r\n\r\n"))
	read("GET")
	read("GET")
	if resp := read("HEAD"); resp.ContentLength != int64(len(httpBody)) || resp.Close {
		t.Errorf("HEAD: length %d, close %v", resp.ContentLength, resp.Close)
	}
	// A 200 KB body in pieces, then a GET: the body is read and dropped.
	body := bytes.Repeat([]byte("x"), 200_000)
	c.Write([]byte("POST / HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"))
	for i := 0; i < len(body); i += 50_000 {
		c.Write(body[i : i+50_000])
		time.Sleep(5 * time.Millisecond)
	}
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	read("POST")
	read("GET")
	c.Write([]byte("HELLO\r\n\r\n"))
	if resp := read("GET"); resp.StatusCode != 400 || !resp.Close {
		t.Errorf("not HTTP: %d, close %v; want 400 and close", resp.StatusCode, resp.Close)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the 400: %v, want EOF", err)
	}
	waitClosed(t, s)
	if got := s.Counts(); got.Requests != 5 || got.Accepted != 1 || got.ClosedByServer != 1 || got.Errors != 0 {
		t.Errorf("counts %+v: want 5 requests answered on 1 connection, closed by the server", got)
	}
}

func TestListenerCheck(t *testing.T) {
	for _, tc := range []struct {
		l    Listener
		want string
	}{
		{Listener{Port: 1, KeepaliveRequests: 2}, "keepalive_requests is for protocol http"},
		{Listener{Port: 1, Protocol: ProtoHTTP, CloseFirst: true}, "not close_first"},
		{Listener{Port: 1, Protocol: ProtoHTTP, KeepaliveRequests: -1}, "negative keepalive_requests"},
		{Listener{Port: 1, Protocol: "gopher"}, `unknown protocol "gopher"`},
		{Listener{Port: 1, Protocol: ProtoHTTP, KeepaliveRequests: 100}, ""},
	} {
		err := tc.l.check()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.l, err, tc.want)
		}
	}
	p := plan([]int{7000}, Pool{Name: "p", Workers: 1, Messages: 1, Payload: 8, Close: CloseClient})
	p.Server.Listeners[0].Protocol = ProtoHTTP
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "connect-only") {
		t.Errorf("a pool exchanging messages with an http listener: %v, want refused", err)
	}
	p.Pools[0].Messages = 0
	if err := p.Check(); err != nil {
		t.Errorf("a connect-only pool dialing an http listener: %v", err)
	}
}
