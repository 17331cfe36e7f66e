package loadgen

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// System calls that never wait for anything: on non-blocking sockets
// (connect, read, write), close of a socket with no linger time to wait
// out, epoll_pwait told not to wait. They go through RawSyscall, without the
// scheduler's bookkeeping for a call that may block: through
// syscall.Syscall each call pays entersyscall and exitsyscall, and one that
// runs long (a connect() over veth runs both ends of the handshake, a
// close with RST the abort at both ends) may have its P taken by sysmon
// and must get one back. Measured: a tenth of the client's CPU per
// connection in bench-churn-echo for connect(), a twentieth in bench-churn
// for close(), a seventh per echo in bench-echo for read, write and
// epoll_wait. The goroutine keeps its P for the call's length; the longest
// is a connect() that scans every port once they run out, and with 15,000
// ports in TIME_WAIT and 64 workers failing on them the time series still
// kept every 100 ms point.

// connectNB is connect(2) to spec's destination.
func connectNB(fd int, spec *dialSpec) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&spec.dst)), spec.dstLen)
	if e != 0 {
		return e
	}
	return nil
}

// readNB is read(2).
func readNB(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// writeNB is write(2).
func writeNB(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// closeNB is close(2).
func closeNB(fd int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return e
	}
	return nil
}

// epollPoll is epoll_pwait(2) with a zero timeout and no signal mask
// (arm64 and riscv64 have no epoll_wait).
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
