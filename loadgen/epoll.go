package loadgen

import (
	"errors"
	"math"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// epollWaiter waits on an epoll instance the way Go waits on sockets: an
// epoll descriptor is itself pollable, so it goes on Go's netpoller and the
// waiting goroutine parks there. Blocking in epoll_wait instead keeps the
// runtime's sysmon busy taking back the blocked goroutine's P and handing
// it on, which cost the client a tenth of its CPU in a soak. An eventfd in
// the set wakes the waiter from any goroutine (wake).
type epollWaiter struct {
	fd       int
	wakefd   int
	f        *os.File
	rc       syscall.RawConn
	events   []unix.EpollEvent
	deadline time.Time // the read deadline set on f
	// What the last poll found.
	n     int
	woken bool
	err   error
	step  func(uintptr) bool // poll, bound once
}

// wakeTag marks the wake-up's eventfd among the events.
const wakeTag = math.MinInt32

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
	w := &epollWaiter{fd: fd, wakefd: -1, f: os.NewFile(uintptr(fd), "epoll"), events: make([]unix.EpollEvent, size)}
	if w.rc, err = w.f.SyscallConn(); err != nil {
		w.close()
		return nil, err
	}
	if w.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		w.close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := w.ctl(unix.EPOLL_CTL_ADD, w.wakefd, unix.EPOLLIN, wakeTag); err != nil {
		w.close()
		return nil, err
	}
	w.step = w.poll
	return w, nil
}

// wake makes the wait under way, or the next one, return woken.
func (w *epollWaiter) wake() {
	one := [8]byte{1}
	unix.Write(w.wakefd, one[:])
}

// ctl adds, changes or removes fd's events, tagged with tag.
func (w *epollWaiter) ctl(op, fd int, events uint32, tag int32) error {
	ev := unix.EpollEvent{Events: events, Fd: tag}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(w.fd, op, fd, &ev))
}

// wait returns what is ready, waiting until deadline at most (zero: for as
// long as it takes), and whether wake was called meanwhile.
func (w *epollWaiter) wait(deadline time.Time) (events []unix.EpollEvent, woken bool, err error) {
	if !deadline.Equal(w.deadline) {
		if err := w.f.SetReadDeadline(deadline); err != nil {
			return nil, false, err
		}
		w.deadline = deadline
	}
	w.n, w.woken, w.err = 0, false, nil
	switch err := w.rc.Read(w.step); {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return w.events[:w.n], w.woken, w.err
}

// ready returns what is ready now, without waiting.
func (w *epollWaiter) ready() (events []unix.EpollEvent, woken bool, err error) {
	w.n, w.woken, w.err = 0, false, nil
	w.poll(0)
	return w.events[:w.n], w.woken, w.err
}

// poll takes what is ready without waiting; false: nothing yet, park.
func (w *epollWaiter) poll(uintptr) bool {
	for {
		n, err := epollPoll(w.fd, w.events)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			w.err = os.NewSyscallError("epoll_pwait", err)
			return true
		}
		// The wake-up leaves the list, drained.
		w.n = 0
		for _, ev := range w.events[:n] {
			if ev.Fd == wakeTag {
				var b [8]byte
				unix.Read(w.wakefd, b[:])
				w.woken = true
				continue
			}
			w.events[w.n] = ev
			w.n++
		}
		return n > 0
	}
}

// close closes the epoll instance and its eventfd.
func (w *epollWaiter) close() error {
	if w.wakefd >= 0 {
		unix.Close(w.wakefd)
	}
	return w.f.Close()
}
