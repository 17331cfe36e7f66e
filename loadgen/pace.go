package loadgen

import (
	"context"
	"math"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pacer turns a rate and its ramp stages into an absolute schedule: the
// k-th arrival (from 0) is due at arrival(k) after the pool's start,
// whatever happened to the ones before. It is a pure function of k, so a
// run that falls behind catches up instead of drifting, and the intended
// start of every connection is known for latency (coordinated omission).
type pacer struct {
	segs  []segment
	phase float64 // the share of an arrival the schedule is shifted by
}

// segment is a stretch of time over which the rate moves linearly from a to
// b per second; n0 arrivals are due before it begins. The last segment
// lasts forever at a constant rate.
type segment struct {
	start  float64 // seconds from the pool's start
	length float64 // seconds; +Inf for the last
	a, b   float64 // arrivals per second at its start and end
	n0     float64
}

// newPacer is the schedule of a rate and its ramp, shifted by phase (see
// Pool.Phase).
func newPacer(rate float64, ramp []Stage, phase float64) pacer {
	p := pacer{phase: phase}
	t, n, r := 0.0, 0.0, rate
	for _, st := range ramp {
		d := st.Over.Seconds()
		p.segs = append(p.segs, segment{start: t, length: d, a: r, b: st.To, n0: n})
		n += (r + st.To) / 2 * d
		t += d
		r = st.To
	}
	p.segs = append(p.segs, segment{start: t, length: math.Inf(1), a: r, b: r, n0: n})
	return p
}

// arrival returns when the k-th arrival is due, or false if it never is
// (the rate ends at zero first).
func (p pacer) arrival(k int64) (time.Duration, bool) {
	want := float64(k) + p.phase
	for _, s := range p.segs {
		due := want - s.n0 // arrivals due within this segment before k
		if due < 0 {
			continue
		}
		x, ok := s.solve(due)
		if ok && x <= s.length {
			return time.Duration((s.start + x) * float64(time.Second)), true
		}
	}
	return 0, false
}

// solve finds x >= 0 with a·x + (b-a)·x²/(2·length) = due.
func (s segment) solve(due float64) (float64, bool) {
	if due == 0 {
		return 0, true
	}
	slope := 0.0
	if !math.IsInf(s.length, 1) {
		slope = (s.b - s.a) / s.length
	}
	if slope == 0 {
		if s.a <= 0 {
			return 0, false
		}
		return due / s.a, true
	}
	disc := s.a*s.a + 2*slope*due
	if disc < 0 {
		return 0, false // a falling rate reaches zero first
	}
	x := (-s.a + math.Sqrt(disc)) / slope
	return x, x >= 0
}

// maxSpin and spinShare bound the part of a wait the alarm spends
// spinning: at most maxSpin, and at most 1/spinShare of the time between
// two arrivals, so that a pool spends no more than that share of a CPU
// spinning whatever its rate.
const (
	maxSpin   = 200 * time.Microsecond
	spinShare = 50
)

// spinFor is the spin of a wait for an arrival due gap after the one
// before.
func spinFor(gap time.Duration) time.Duration {
	return min(maxSpin, gap/spinShare)
}

// alarm waits for the schedule's due times. A Go timer wakes up to a
// millisecond late when nothing else is going on: the runtime's netpoller
// sleeps in epoll_pwait, whose timeout counts whole milliseconds (a wait
// of less than one takes one, a longer one is cut to whole milliseconds
// and then waits a whole one more for the rest). A timerfd's expiry is an
// event on that same epoll instance, delivered when the kernel's
// high-resolution timer fires: the goroutine parks on the netpoller as on
// a socket, no thread blocks in a system call and nothing spins. Where no
// timerfd can be made, the alarm falls back to a Go timer.
type alarm struct {
	fd   int // the timerfd; -1: none
	f    *os.File
	rc   syscall.RawConn
	stop func() bool // unregisters the wake-up on ctx's end
	sl   sleeper     // the fallback
	step func(uintptr) bool
}

// newAlarm makes an alarm whose waits end when ctx does.
func newAlarm(ctx context.Context) *alarm {
	a := &alarm{fd: -1}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return a
	}
	// Non-blocking: os.NewFile puts it on the netpoller.
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return a
	}
	a.fd, a.f, a.rc, a.step = fd, f, rc, expired
	a.stop = context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	return a
}

// sleepUntil waits until t unless ctx ends first; it reports whether t
// came. The last spin of the wait, if any, is spent yielding the
// processor (runtime.Gosched) instead of asleep: a thread woken on an
// idle CPU takes a while to run again (longer on a virtual machine),
// which spinning saves at the cost of the CPU it spins.
func (a *alarm) sleepUntil(ctx context.Context, t time.Time, spin time.Duration) bool {
	if a.fd < 0 {
		return a.sl.sleepUntil(ctx, t)
	}
	wake := t.Add(-spin)
	for {
		d := time.Until(wake)
		if d <= 0 {
			for time.Now().Before(t) {
				runtime.Gosched()
			}
			return ctx.Err() == nil
		}
		its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if err := unix.TimerfdSettime(a.fd, 0, &its, nil); err != nil {
			return a.sl.sleepUntil(ctx, t)
		}
		if err := a.rc.Read(a.step); err != nil {
			return false // the deadline ctx's end set
		}
	}
}

// expired reads the timerfd's expiry count; false: not yet, park.
func expired(fd uintptr) bool {
	var n [8]byte
	_, err := readNB(int(fd), n[:])
	return err != unix.EAGAIN
}

// close releases the timerfd.
func (a *alarm) close() {
	if a.fd >= 0 {
		a.stop()
		a.f.Close()
		a.fd = -1
	}
}
