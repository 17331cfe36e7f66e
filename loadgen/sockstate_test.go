package loadgen

import (
	"context"
	"testing"
	"time"
)

func TestSocketSamplerCountsStates(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	// 20 connections held: 20 more ESTABLISHED on each side of loopback.
	p := plan(ports, Pool{Name: "hold", Workers: 20, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
	p.Duration = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Result)
	go func() {
		res, _ := Run(ctx, p, Options{Target: loopback, Progress: 10 * time.Millisecond, OnEvent: func(ev Event) {}})
		done <- res
	}()
	var during SocketStates
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if during, err = s.Sample(); err != nil {
			t.Fatal(err)
		}
		if during.Established-before.Established >= 40 {
			break
		}
	}
	cancel()
	<-done
	if got := during.Established - before.Established; got != 40 {
		t.Errorf("established went from %d to %d, want +40 (20 pairs over loopback)", before.Established, during.Established)
	}
	// 20 client ports, and the server's port, which its accepted sockets
	// share.
	if during.Listen < 1 || during.PortsInUse-before.PortsInUse != 21 {
		t.Errorf("states %+v: want the listener and 21 more ports in use", during)
	}
}

func BenchmarkSocketSampler(b *testing.B) {
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}
