package loadgen

import "strings"

// A program portex did not write reports its failed connects in its own
// words, not by errno. ClassifyOutput reads a line of its output for the
// wordings of the common runtimes, so that the moment the program itself
// says it ran out of ports (or descriptors, or time) can be told, beside
// what the kernel's sockets show.

// OutputMatch is what a line of a program's output reports.
type OutputMatch struct {
	// Class is the failure the line reports: ClassEADDRNOTAVAIL,
	// ClassEADDRINUSE, ClassEMFILE, ClassENFILE or ClassETIMEDOUT; or
	// ClassOther for a failed connect whose cause the wording does not
	// say (curl's "(7) ... Couldn't connect to server", printed for
	// EADDRNOTAVAIL, ECONNREFUSED and EMFILE alike).
	Class Class
	// Runtime is whose wording it is: go, python, java, node, dotnet,
	// rust, nginx or curl; empty for the C library's message (strerror), which
	// many share.
	Runtime string
}

// outputRule is one wording: a line that contains text reports class in
// runtime's words.
type outputRule struct {
	text    string
	class   Class
	runtime string
}

// outputRules are tried in order, the first that matches wins: the
// specific wordings before the generic ones they contain (ENFILE's before
// EMFILE's, a runtime's before strerror's).
var outputRules = []outputRule{
	// Go: the syscall package's lower-case strerror, after the failing
	// call: "dial tcp 127.0.0.1:7000: connect: cannot assign requested address".
	{"cannot assign requested address", ClassEADDRNOTAVAIL, "go"},
	{"bind: address already in use", ClassEADDRINUSE, "go"},
	{"too many open files in system", ClassENFILE, "go"},
	{"too many open files", ClassEMFILE, "go"},
	{"i/o timeout", ClassETIMEDOUT, "go"},
	{"connect: connection timed out", ClassETIMEDOUT, "go"},

	// Python: OSError's "[Errno N] strerror", also inside requests' and
	// urllib3's messages; urllib's URLError(OSError(99, ...)).
	{"[Errno 99]", ClassEADDRNOTAVAIL, "python"},
	{"OSError(99,", ClassEADDRNOTAVAIL, "python"},
	{"[Errno 98]", ClassEADDRINUSE, "python"},
	{"[Errno 23]", ClassENFILE, "python"},
	{"[Errno 24]", ClassEMFILE, "python"},
	{"[Errno 110]", ClassETIMEDOUT, "python"},
	{"TimeoutError: timed out", ClassETIMEDOUT, "python"},
	{"ConnectTimeoutError", ClassETIMEDOUT, "python"},

	// Java: the exception's class, then strerror.
	{"BindException: Cannot assign requested address", ClassEADDRNOTAVAIL, "java"},
	{"ConnectException: Cannot assign requested address", ClassEADDRNOTAVAIL, "java"},
	{"NoRouteToHostException: Cannot assign requested address", ClassEADDRNOTAVAIL, "java"},
	{"BindException: Address already in use", ClassEADDRINUSE, "java"},
	{"SocketException: Too many open files in system", ClassENFILE, "java"},
	{"SocketException: Too many open files", ClassEMFILE, "java"},
	{"SocketTimeoutException", ClassETIMEDOUT, "java"},
	{"HttpConnectTimeoutException", ClassETIMEDOUT, "java"},
	{"ConnectException: Connection timed out", ClassETIMEDOUT, "java"},

	// .NET: SocketException (errno): strerror; HttpRequestException
	// carries the same text.
	{"SocketException (99)", ClassEADDRNOTAVAIL, "dotnet"},
	{"HttpRequestException: Cannot assign requested address", ClassEADDRNOTAVAIL, "dotnet"},
	{"SocketException (98)", ClassEADDRINUSE, "dotnet"},
	{"SocketException (23)", ClassENFILE, "dotnet"},
	{"SocketException (24)", ClassEMFILE, "dotnet"},
	{"SocketException (110)", ClassETIMEDOUT, "dotnet"},

	// nginx's error log: "connect() to 198.18.0.2:7000 failed (99: Cannot
	// assign requested address) while connecting to upstream".
	{"(99: Cannot assign requested address)", ClassEADDRNOTAVAIL, "nginx"},
	{"(98: Address already in use)", ClassEADDRINUSE, "nginx"},
	{"(23: Too many open files in system)", ClassENFILE, "nginx"},
	{"(24: Too many open files)", ClassEMFILE, "nginx"},
	{"(110: Connection timed out)", ClassETIMEDOUT, "nginx"},

	// Rust: strerror, then "(os error N)".
	{"(os error 99)", ClassEADDRNOTAVAIL, "rust"},
	{"(os error 98)", ClassEADDRINUSE, "rust"},
	{"(os error 23)", ClassENFILE, "rust"},
	{"(os error 24)", ClassEMFILE, "rust"},
	{"(os error 110)", ClassETIMEDOUT, "rust"},

	// curl: -v says why a connect failed; the error line alone does not.
	{"Immediate connect fail for", ClassEADDRNOTAVAIL, "curl"}, // refined below
	{"curl: (28)", ClassETIMEDOUT, "curl"},
	{"curl: (7)", ClassOther, "curl"},

	// Node: the errno's name after the call: "connect EADDRNOTAVAIL
	// 127.0.0.1:7000 - Local (0.0.0.0:0)".
	{"connect EADDRNOTAVAIL", ClassEADDRNOTAVAIL, "node"},
	{"connect EADDRINUSE", ClassEADDRINUSE, "node"},
	{"listen EADDRINUSE", ClassEADDRINUSE, "node"},
	{"connect ENFILE", ClassENFILE, "node"},
	{"connect EMFILE", ClassEMFILE, "node"},
	{"connect ETIMEDOUT", ClassETIMEDOUT, "node"},

	// Anyone: the errno's name, or the C library's strerror.
	{"EADDRNOTAVAIL", ClassEADDRNOTAVAIL, ""},
	{"Cannot assign requested address", ClassEADDRNOTAVAIL, ""},
	{"EADDRINUSE", ClassEADDRINUSE, ""},
	{"Address already in use", ClassEADDRINUSE, ""},
	{"ENFILE", ClassENFILE, ""},
	{"Too many open files in system", ClassENFILE, ""},
	{"EMFILE", ClassEMFILE, ""},
	{"Too many open files", ClassEMFILE, ""},
	{"ETIMEDOUT", ClassETIMEDOUT, ""},
	{"Connection timed out", ClassETIMEDOUT, ""},
}

// maxOutputLine bounds how much of a line ClassifyOutput reads.
const maxOutputLine = 4096

// ClassifyOutput reports whether a line of a program's output says that a
// connection failed for want of a port (EADDRNOTAVAIL, EADDRINUSE), of a
// descriptor (EMFILE, ENFILE) or of time (ETIMEDOUT), and in which
// runtime's words. Only the first 4 KiB of the line are read.
func ClassifyOutput(line string) (OutputMatch, bool) {
	if len(line) > maxOutputLine {
		line = line[:maxOutputLine]
	}
	for _, r := range outputRules {
		if !strings.Contains(line, r.text) {
			continue
		}
		m := OutputMatch{Class: r.class, Runtime: r.runtime}
		if r.text == "Immediate connect fail for" {
			// curl -v: "Immediate connect fail for 127.0.0.1: <strerror>".
			// A cause not listed here (Connection refused) is no match;
			// the "(7)" line that follows is.
			_, cause, _ := strings.Cut(line, r.text)
			sub, ok := ClassifyOutput(cause)
			if !ok || sub.Runtime != "" {
				return OutputMatch{}, false
			}
			m.Class = sub.Class
		}
		return m, true
	}
	return OutputMatch{}, false
}
