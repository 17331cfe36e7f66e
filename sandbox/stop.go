package sandbox

import "context"

type hardStopKey struct{}

// WithHardStop returns a context that carries a second, harder stop: when
// ctx ends a runtime asks its agent to stop and waits for its report (up to
// a grace period); when hard is closed as well it stops waiting and kills
// the agent at once, keeping the partial result rebuilt from the agent's
// events.
func WithHardStop(ctx context.Context, hard <-chan struct{}) context.Context {
	return context.WithValue(ctx, hardStopKey{}, hard)
}

// HardStop returns the channel WithHardStop put in ctx, or nil (which
// never becomes ready) when there is none.
func HardStop(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(hardStopKey{}).(<-chan struct{})
	return c
}
