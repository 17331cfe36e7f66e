package loadgen

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
)

// Class is the kind of a failure, named after the errno that signals it.
type Class uint8

// The failure classes. Port exhaustion (EADDRNOTAVAIL from connect(), or
// EADDRINUSE from bind() before connect) is told apart from running out of
// file descriptors (EMFILE per process, ENFILE per system), from a server that
// refuses or resets, and from timeouts.
const (
	ClassNone          Class = iota
	ClassEADDRNOTAVAIL       // connect(): no free local port for this destination
	ClassEADDRINUSE          // bind(): no free local port at all, or the port is taken
	ClassECONNREFUSED        // nobody listening, or the backlog overflowed with syncookies off
	ClassETIMEDOUT           // the kernel gave up: SYN retries (tcp_syn_retries) or retransmissions exhausted
	ClassECONNRESET          // the peer reset the connection
	ClassEPIPE               // wrote to a connection the peer had closed
	ClassEMFILE              // the process is out of file descriptors
	ClassENFILE              // the system is out of file descriptors
	ClassEOF                 // the server closed before the exchange was done
	ClassMismatch            // the echo came back different from what was sent
	ClassOther               // anything else
	// ClassTimeout: portex's own deadline ran out first (a pool's
	// connect_timeout, or an exchange's), before the kernel gave up.
	ClassTimeout
	numClasses
)

var classNames = [numClasses]string{
	ClassNone:          "none",
	ClassEADDRNOTAVAIL: "EADDRNOTAVAIL",
	ClassEADDRINUSE:    "EADDRINUSE",
	ClassECONNREFUSED:  "ECONNREFUSED",
	ClassETIMEDOUT:     "ETIMEDOUT",
	ClassECONNRESET:    "ECONNRESET",
	ClassEPIPE:         "EPIPE",
	ClassEMFILE:        "EMFILE",
	ClassENFILE:        "ENFILE",
	ClassEOF:           "EOF",
	ClassMismatch:      "echo_mismatch",
	ClassOther:         "other",
	ClassTimeout:       "timeout",
}

// String returns the class's name as it appears in results.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "other"
}

// ParseClass returns the class with the given name.
func ParseClass(name string) (Class, bool) {
	for c, n := range classNames {
		if n == name && Class(c) != ClassNone {
			return Class(c), true
		}
	}
	return ClassNone, false
}

// ClassNames lists every failure class name, in a fixed order.
func ClassNames() []string {
	names := make([]string, 0, numClasses-1)
	for c := ClassNone + 1; c < numClasses; c++ {
		names = append(names, c.String())
	}
	return names
}

// Exhausts reports whether the class means the local port range ran out.
func (c Class) Exhausts() bool { return c == ClassEADDRNOTAVAIL || c == ClassEADDRINUSE }

// Classify maps an error from the dial or the exchange to its class.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EADDRNOTAVAIL:
			return ClassEADDRNOTAVAIL
		case syscall.EADDRINUSE:
			return ClassEADDRINUSE
		case syscall.ECONNREFUSED:
			return ClassECONNREFUSED
		case syscall.ETIMEDOUT:
			return ClassETIMEDOUT
		case syscall.ECONNRESET:
			return ClassECONNRESET
		case syscall.EPIPE:
			return ClassEPIPE
		case syscall.EMFILE:
			return ClassEMFILE
		case syscall.ENFILE:
			return ClassENFILE
		}
		return ClassOther
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassEOF
	case errors.Is(err, errMismatch):
		return ClassMismatch
	}
	return ClassOther
}

var errMismatch = errors.New("echo mismatch")
