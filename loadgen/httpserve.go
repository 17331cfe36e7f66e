package loadgen

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// The bundled server's HTTP responder runs on the echo server's event loops
// (see server.go): a listener whose Protocol is ProtoHTTP answers every
// request with a small 200 response. It speaks just enough HTTP/1.1 for
// clients to keep connections alive and reuse them, or not, as they would
// against a real service: requests are parsed one after another (pipelined
// ones too, answered in order), a body announced by Content-Length is read
// and dropped, the connection is kept alive unless the client asks for
// close (or speaks HTTP/1.0 without keep-alive), and the server closes it
// itself after KeepaliveRequests responses or IdleClose of idleness, as
// nginx's keepalive_requests and keepalive_timeout do.

// httpConn is an HTTP connection's parsing state.
type httpConn struct {
	in      []byte // bytes read and not yet parsed
	skip    int64  // body bytes of the current request still to drop
	served  int    // responses sent
	closing bool   // close once the pending response is out
}

// httpRequest is what the responder needs to know of a request.
type httpRequest struct {
	head      bool // a HEAD request: no body in the response
	keepAlive bool // the client keeps the connection for more requests
	bodyLen   int64
}

// maxHead bounds a request's line and headers.
const maxHead = 16 << 10

// httpParse is what parseRequest found.
type httpParse int

const (
	httpMore     httpParse = iota // the head is not all in yet
	httpOK                        // a request: its head is used bytes long
	httpBad                       // not HTTP/1.x: answer 400 and close
	httpTooLarge                  // the head is over maxHead: 431 and close
	httpChunked                   // a chunked body, which the responder does not read: 501 and close
)

// parseRequest parses the head of the request at the start of b: its
// line and headers, up to the empty line.
func parseRequest(b []byte) (req httpRequest, used int, res httpParse) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHead {
			return httpRequest{}, 0, httpTooLarge
		}
		return httpRequest{}, 0, httpMore
	}
	if end+4 > maxHead {
		return httpRequest{}, 0, httpTooLarge
	}
	line, rest, _ := bytes.Cut(b[:end], []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return httpRequest{}, 0, httpBad
	}
	switch string(version) {
	case "HTTP/1.1":
		req.keepAlive = true
	case "HTTP/1.0":
	default:
		return httpRequest{}, 0, httpBad
	}
	req.head = string(method) == "HEAD"
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok || len(name) == 0 {
			return httpRequest{}, 0, httpBad
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case hasToken(value, "close"):
				req.keepAlive = false
			case hasToken(value, "keep-alive"):
				req.keepAlive = true
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return httpRequest{}, 0, httpBad
			}
			req.bodyLen = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("identity")) {
				return httpRequest{}, 0, httpChunked
			}
		}
	}
	return req, end + 4, httpOK
}

// hasToken reports whether a comma-separated header value has the token,
// in any case.
func hasToken(value []byte, token string) bool {
	for tok := range bytes.SplitSeq(value, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(tok), []byte(token)) {
			return true
		}
	}
	return false
}

// The responses, made once.
var (
	httpBody = "ok\n"
	// httpOKResponse[keep][head]
	httpOKResponse = [2][2][]byte{
		{okResponse("close", false), okResponse("close", true)},
		{okResponse("keep-alive", false), okResponse("keep-alive", true)},
	}
	httpBadResponse      = errResponse("400 Bad Request")
	httpTooLargeResponse = errResponse("431 Request Header Fields Too Large")
	httpChunkedResponse  = errResponse("501 Not Implemented")
)

func okResponse(connection string, head bool) []byte {
	r := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(httpBody)) +
		"\r\nConnection: " + connection + "\r\n\r\n"
	if !head {
		r += httpBody
	}
	return []byte(r)
}

func errResponse(status string) []byte {
	return []byte("HTTP/1.1 " + status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

// serveHTTP handles readiness on an HTTP connection: it answers the
// requests buffered, then reads more and answers them, until the socket
// is empty, a response must wait for room to write, the connection
// closes, or the turn is over.
func (l *serverLoop) serveHTTP(fd int, c *sconn, events uint32) {
	if len(c.pending()) > 0 {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.flush(fd, c)
		}
		return
	}
	h := c.httpState()
	for reads := 0; ; reads++ {
		if !l.answer(fd, c) {
			return
		}
		if reads == turnReads {
			if !c.queued {
				c.queued = true
				l.again = append(l.again, fd)
			}
			return
		}
		n, err := readNB(fd, l.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err == unix.ECONNRESET, err == nil && n == 0:
			l.s.byPeer.Add(1)
			l.close(fd, false)
			return
		case err != nil:
			l.s.errs.Add(1)
			l.close(fd, false)
			return
		}
		if l.idle {
			c.active = l.now()
		}
		data := l.buf[:n]
		if h.skip > 0 { // the body of a request being read: dropped
			k := min(int64(len(data)), h.skip)
			h.skip -= k
			data = data[k:]
		}
		h.in = append(h.in, data...)
		if n < len(l.buf) && events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			l.answer(fd, c)
			return // the socket is empty: what comes next is a new edge
		}
	}
}

// answer answers the complete requests buffered on c, in order; false:
// the connection closed, or a response waits for room to write.
func (l *serverLoop) answer(fd int, c *sconn) bool {
	h := c.httpState()
	for h.skip == 0 {
		req, used, res := parseRequest(h.in)
		var resp []byte
		keep := false
		switch res {
		case httpMore:
			if len(h.in) == 0 {
				h.in = h.in[:0:0] // drop a buffer grown by a large burst
			}
			return true
		case httpOK:
			h.served++
			l.s.requests.Add(1)
			lim := l.s.cfg.Listeners[c.listener()].KeepaliveRequests
			keep = req.keepAlive && (lim == 0 || h.served < lim)
			resp = httpOKResponse[b2i(keep)][b2i(req.head)]
			// The body, what of it is in: dropped; the rest as it comes.
			k := min(int64(len(h.in)-used), req.bodyLen)
			h.in = h.in[:copy(h.in, h.in[used+int(k):])]
			h.skip = req.bodyLen - k
		case httpBad:
			resp = httpBadResponse
		case httpTooLarge:
			resp = httpTooLargeResponse
		case httpChunked:
			resp = httpChunkedResponse
		}
		if !keep {
			h.in = nil
		}
		w, err := writeNB(fd, resp)
		if err != nil && err != unix.EAGAIN {
			l.s.errs.Add(1)
			l.close(fd, false)
			return false
		}
		if w = max(w, 0); w < len(resp) {
			c.setPending(append(c.pending()[:0], resp[w:]...))
			h.closing = !keep
			if err := l.watch(fd, c, unix.EPOLLOUT); err != nil {
				l.close(fd, false)
			}
			return false
		}
		if !keep {
			l.close(fd, true)
			return false
		}
	}
	return true
}

// flushedHTTP goes on with an HTTP connection once its pending response
// is out: it closes it if that response said so, or answers the requests
// that came meanwhile and are buffered (the socket, watched again, reports
// what is still unread).
func (l *serverLoop) flushedHTTP(fd int, c *sconn) {
	if c.httpState().closing {
		l.close(fd, true)
		return
	}
	l.answer(fd, c)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
