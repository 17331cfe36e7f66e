package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

// A bind() before connect() takes its port when the socket is bound. When
// one worker binds the last port, another then finds none and declares the
// exhaustion, and only then does the first call connect(), that dial still
// came before the exhaustion: it counts in DialsOKBefore, and its success
// is no recovery. The test takes those steps in that order, on real
// sockets, with one worker standing for both.
func TestBoundBeforeExhaustionCountsBefore(t *testing.T) {
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "bound", Workers: 2, Bind: BindBeforeConnect, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
	var events []result.Event
	e := newEngine(p, Options{Target: loopback, OnEvent: func(ev result.Event) { events = append(events, ev) }})
	e.start = time.Now()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e.sched, e.stopSched, e.hard = ctx, cancel, ctx
	pr := &poolRun{e: e, p: &p.Pools[0], ctx: ctx, begin: e.start, refused: make([]atomic.Bool, 1)}
	w := newWorker(pr, 0)

	begun := time.Now()
	fd, err := newSocket(&w.spec[0]) // bind(): the last port is this dial's
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	// Another dial's bind() finds no port: the pool is out of ports.
	w.dialed(0, time.Now(), time.Time{}, &dialError{opBind, unix.EADDRINUSE})
	if e.exhaustion == nil {
		t.Fatal("EADDRINUSE from bind() on the pool's only spec is no exhaustion")
	}
	time.Sleep(time.Millisecond)
	started, pending, err := connectSocket(fd, &w.spec[0])
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	c := conn{fd: fd}
	if pending {
		if c, err = waitConnected(ctx, fd, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	defer c.reset()
	if int64(e.since(started)) <= e.exhaustAt.Load() {
		t.Fatalf("connect() at %s, exhaustion at %s: the steps did not come in order", e.since(started), time.Duration(e.exhaustAt.Load()))
	}
	if !w.dialed(0, begun, started, nil) {
		t.Fatal("the connected dial is not counted as connected")
	}
	if w.okBefore != 1 {
		t.Errorf("%d dials counted before exhaustion, want the one bound before it", w.okBefore)
	}
	for _, ev := range events {
		if ev.Type == result.EventRecovery {
			t.Errorf("a recovery at %.3fs: the dial bound before the exhaustion found no freed port", ev.AtSeconds)
		}
	}
}
