package providers

import (
	"context"
	"errors"
)

// ErrStoppedWaiting ends a change that was waiting for a server's background task
// (a mailbox copy, a profile activation) when the operator interrupted the apply. The
// task goes on on the server; the change is re-planned, and its task waited for, by
// the next apply.
var ErrStoppedWaiting = errors.New("stopped waiting: the apply was interrupted; the server's task goes on and the next apply waits for it")

type stopKey struct{}

// WithStopWaiting returns a context whose StopWaiting channel is stop. The apply
// engine runs each change with a context that is not cancelled by an interrupt
// (stopping a WHM call halfway helps nobody), and marks it with the interrupt here:
// a provider stops waiting for a background task on it, at once.
func WithStopWaiting(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// StopWaiting returns the channel closed when a provider should stop waiting for a
// background task, or nil (never closed) when the context carries none.
func StopWaiting(ctx context.Context) <-chan struct{} {
	stop, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return stop
}
