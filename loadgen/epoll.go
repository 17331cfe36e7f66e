package loadgen

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// epollWaiter waits on an epoll instance the way Go waits on sockets: an
// epoll descriptor is itself pollable, so it goes on Go's netpoller and the
// waiting goroutine parks there. Blocking in epoll_wait instead keeps the
// runtime's sysmon busy taking back the blocked goroutine's P and handing
// it on, which cost the client a tenth of its CPU in a soak.
type epollWaiter struct {
	fd       int
	f        *os.File
	rc       syscall.RawConn
	events   []unix.EpollEvent
	deadline time.Time // the read deadline set on f
	// What the last poll found.
	n    int
	err  error
	step func(uintptr) bool // poll, bound once
}

// newEpollWaiter makes an epoll instance that reports up to size events a
// wait.
func newEpollWaiter(size int) (*epollWaiter, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking: os.NewFile puts it on the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	w := &epollWaiter{fd: fd, f: os.NewFile(uintptr(fd), "epoll"), events: make([]unix.EpollEvent, size)}
	if w.rc, err = w.f.SyscallConn(); err != nil {
		w.f.Close()
		return nil, err
	}
	w.step = w.poll
	return w, nil
}

// ctl adds, changes or removes fd's events, tagged with tag.
func (w *epollWaiter) ctl(op, fd int, events uint32, tag int32) error {
	ev := unix.EpollEvent{Events: events, Fd: tag}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(w.fd, op, fd, &ev))
}

// wait returns what is ready, waiting until deadline at most (zero: for as
// long as it takes).
func (w *epollWaiter) wait(deadline time.Time) ([]unix.EpollEvent, error) {
	if !deadline.Equal(w.deadline) {
		if err := w.f.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		w.deadline = deadline
	}
	w.n, w.err = 0, nil
	switch err := w.rc.Read(w.step); {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return w.events[:w.n], w.err
}

// poll takes what is ready without waiting; false: nothing yet, park.
func (w *epollWaiter) poll(uintptr) bool {
	for {
		n, err := unix.EpollWait(w.fd, w.events, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			w.err = os.NewSyscallError("epoll_wait", err)
			return true
		}
		w.n = n
		return n > 0
	}
}

// close closes the epoll instance.
func (w *epollWaiter) close() error { return w.f.Close() }
