package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is Tether's one retry policy, for transient failures (ErrTransient):
// how many tries in all, and an exponential backoff with jitter between them
// (cenkalti/backoff). Retries happen in exactly one layer, the one that knows a retry
// is safe: a provider's client retries a call (a read, or a write that never reached
// the server), and marks what it gave up on ErrRetried; the engine retries a whole
// change only for a transient failure nobody retried yet (a write that may have
// reached the server, which the change checks before it tries again). So a flaky
// server costs at most Attempts tries of a call, never Attempts × Attempts.
type RetryPolicy struct {
	// Attempts is how many times in all (1: no retry; 0: DefaultAttempts).
	Attempts int
	// Initial is the wait before the second try, doubled each time (±50 % jitter) up
	// to Max.
	Initial, Max time.Duration
}

// DefaultAttempts is the tries of a call or change when nothing says otherwise.
const DefaultAttempts = 4

// ErrRetried marks a transient failure that the layer which saw it already retried
// as far as the policy allows: no layer above tries it again.
var ErrRetried = errors.New("already retried")

// retried keeps the failure's message and adds ErrRetried to what it is.
type retried struct{ err error }

func (r retried) Error() string   { return r.err.Error() }
func (r retried) Unwrap() []error { return []error{r.err, ErrRetried} }

// RetryStopped is Retry's error when ctx ended a wait between tries: the cause, and
// the failure that was to be tried again.
type RetryStopped struct{ Cause, Last error }

func (e *RetryStopped) Error() string { return fmt.Sprintf("%v (last error: %v)", e.Cause, e.Last) }
func (e *RetryStopped) Unwrap() error { return e.Cause }

// BackOff is the policy's backoff: a fresh one per retried operation (it is stateful).
func (p RetryPolicy) BackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         p.Max,
	}
	if b.InitialInterval <= 0 {
		b.InitialInterval = 250 * time.Millisecond
	}
	if b.MaxInterval < b.InitialInterval {
		b.MaxInterval = max(8*time.Second, b.InitialInterval)
	}
	b.Reset()
	return b
}

// Retry runs op under p. A failure that is not transient, or for which again says no
// (a call that may have reached the server and must not run twice), ends it at once;
// a transient one is tried again after the backoff, at most p.Attempts in all, and is
// returned marked ErrRetried when the tries ran out. notify (optional) hears each
// retry before its wait. Cancelling ctx ends the wait; the error says which was last.
func Retry[T any](ctx context.Context, p RetryPolicy, op func() (T, error), again func(error) bool, notify func(err error, attempt int, wait time.Duration)) (T, error) {
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var last error
	tries := 0
	res, err := backoff.Retry(ctx, func() (T, error) {
		tries++
		v, err := op()
		last = err
		if err != nil && (!errors.Is(err, ErrTransient) || (again != nil && !again(err))) {
			return v, backoff.Permanent(err)
		}
		return v, err
	},
		backoff.WithBackOff(p.BackOff()),
		backoff.WithMaxTries(uint(attempts)),
		backoff.WithMaxElapsedTime(0), // the call's and the change's timeouts bound it
		backoff.WithNotify(func(err error, wait time.Duration) {
			if notify != nil {
				notify(err, tries, wait)
			}
		}),
	)
	switch {
	case err == nil:
		return res, nil
	case last != nil && err != last && ctx.Err() != nil:
		return res, &RetryStopped{Cause: err, Last: last}
	case errors.Is(err, ErrTransient) && tries >= attempts:
		return res, retried{err}
	}
	return res, err
}
