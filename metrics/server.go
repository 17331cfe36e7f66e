package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves a Gatherer's metrics on /metrics, in the format the
// scraper asks for: Prometheus text, OpenMetrics, or protobuf (which
// carries native histograms).
type Server struct {
	// Addr is the address to listen on, host:port ("127.0.0.1:9464");
	// port 0 picks a free one (see Listening).
	Addr string
	// Gatherer is what a scrape reads.
	Gatherer prometheus.Gatherer

	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
	err  error         // Serve's error, other than the close
}

// Start listens on Addr and serves until Close, or until ctx ends. An
// address it cannot listen on is its error, before anything is served.
func (s *Server) Start(ctx context.Context) error {
	if s.ln != nil {
		return errors.New("metrics: server already started")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		// A scrape that cannot be answered whole says so, rather than
		// serving a part.
		ErrorHandling: promhttp.HTTPErrorOnError,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "portex: the run's metrics are on /metrics")
	})
	s.ln, s.done = ln, make(chan struct{})
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	stop := context.AfterFunc(ctx, func() { s.srv.Close() })
	go func() {
		<-s.done
		stop()
	}()
	return nil
}

// Listening is the address the server listens on, once started: Addr
// with the port it picked.
func (s *Server) Listening() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops listening and waits for the scrapes under way to finish,
// until ctx ends; then it closes their connections. It returns once the
// server has stopped.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	if s.err != nil {
		return fmt.Errorf("metrics: %w", s.err)
	}
	return err
}
