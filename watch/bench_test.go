package watch

import (
	"fmt"
	"net"
	"testing"
)

// BenchmarkSample is one sample of the test's own namespace holding n
// loopback connections (2n sockets: the accepted ends are counted too,
// then left out as no destination's): what a sample costs per socket,
// and so, with NextWait, how long watch waits between samples at scale.
func BenchmarkSample(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("connections=%d", n), func(b *testing.B) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					conns = append(conns, c)
				}
			}()
			var clients []net.Conn
			for range n {
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				clients = append(clients, c)
			}
			defer func() {
				for _, c := range clients {
					c.Close()
				}
			}()
			ns, err := Open("")
			if err != nil {
				b.Fatal(err)
			}
			defer ns.Close()
			b.ResetTimer()
			for b.Loop() {
				if _, err := ns.Sample(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/socket")
		})
	}
}
