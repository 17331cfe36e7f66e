package loadgen

import (
	"context"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The engine dials with its own non-blocking sockets on Go's poller instead
// of net.Dialer, for two reasons:
//
//   - net.Dialer retries a connect() that failed with EADDRNOTAVAIL up to
//     twice, silently (see spuriousENOTAVAIL in net/tcpsock_posix.go). Port
//     exhaustion is exactly what portex measures, so every connect() the
//     kernel refuses must count once, with its own timing.
//   - It skips the resolver, the address lists and the per-dial allocations
//     net.Dial carries, which matters when churning tens of thousands of
//     connections a second.
//
// A connected socket is an *os.File: pollable (reads, writes and deadlines
// park on the runtime's netpoller) and closed by its finalizer if lost.

// dialOp names the step of a dial that failed.
type dialOp string

const (
	opSocket  dialOp = "socket"
	opBind    dialOp = "bind"
	opConnect dialOp = "connect"
)

// dialSpec is where a dial goes and where it comes from.
type dialSpec struct {
	dst unix.SockaddrInet4
	// src, if set, is bound before connect(); port 0 lets the kernel pick.
	src *unix.SockaddrInet4
	// noPort sets IP_BIND_ADDRESS_NO_PORT: bind() takes the address only
	// and connect() picks the port, sharing it across destinations.
	noPort bool
}

// dialError is a failed dial: the step and the errno.
type dialError struct {
	Op  dialOp
	Err error
}

func (e *dialError) Error() string { return string(e.Op) + ": " + e.Err.Error() }
func (e *dialError) Unwrap() error { return e.Err }

// errCanceled reports a dial abandoned because the run stopped; it is
// neither a success nor a failure.
var errCanceled = context.Canceled

// dial connects a new TCP socket as spec says. It returns exactly one kernel
// verdict: the connected socket or the errno of the one connect() made.
func dial(ctx context.Context, spec *dialSpec, timeout time.Duration) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &dialError{opSocket, err}
	}
	if spec.src != nil {
		if spec.noPort {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
				unix.Close(fd)
				return nil, &dialError{opBind, err}
			}
		}
		if err := unix.Bind(fd, spec.src); err != nil {
			unix.Close(fd)
			return nil, &dialError{opBind, err}
		}
	}
	switch err := unix.Connect(fd, &spec.dst); err {
	case nil:
		return os.NewFile(uintptr(fd), "tcp"), nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		unix.Close(fd)
		return nil, &dialError{opConnect, err}
	}

	// os.NewFile sees a non-blocking descriptor and registers it with the
	// netpoller; its edge-triggered registration reports writability even
	// if the handshake finished before this point.
	f := os.NewFile(uintptr(fd), "tcp")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, &dialError{opConnect, err}
	}
	if err := f.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		f.Close()
		return nil, &dialError{opConnect, err}
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	var soErr error
	werr := rc.Write(func(fd uintptr) bool {
		// Called once before waiting and again after every wake-up, which
		// can be spurious: ask the kernel how the handshake went.
		n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = err
			return true
		case n != 0:
			soErr = syscall.Errno(n)
			return true
		}
		_, err = unix.Getpeername(int(fd))
		return err == nil // ENOTCONN: still in progress, wait
	})
	canceled := !stop() && ctx.Err() != nil
	switch {
	case soErr != nil:
		f.Close()
		return nil, &dialError{opConnect, soErr}
	case werr != nil && canceled:
		f.Close()
		return nil, errCanceled
	case werr != nil:
		f.Close()
		return nil, &dialError{opConnect, werr} // os.ErrDeadlineExceeded: ETIMEDOUT
	}
	if err := f.SetWriteDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, &dialError{opConnect, err}
	}
	return f, nil
}

// closeReset closes f with SO_LINGER {1, 0}: the kernel sends RST and the
// socket skips TIME_WAIT.
func closeReset(f *os.File) error {
	rc, err := f.SyscallConn()
	if err == nil {
		rc.Control(func(fd uintptr) {
			err = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
