package providers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	transient := fmt.Errorf("%w: 503", ErrTransient)
	permanent := errors.New("no such package")
	for _, tc := range []struct {
		name        string
		errs        []error
		again       func(error) bool
		wantTries   int
		wantErr     error
		wantRetried bool
	}{
		{"succeeds at once", nil, nil, 1, nil, false},
		{"recovers", []error{transient, transient}, nil, 3, nil, false},
		{"gives up after the attempts, marked retried", []error{transient, transient, transient, transient, transient}, nil, 4, transient, true},
		{"permanent ends at once", []error{permanent}, nil, 1, permanent, false},
		{"a write that may have reached the server is left to the caller", []error{transient}, func(error) bool { return false }, 1, transient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			var waits []time.Duration
			_, err := Retry(context.Background(), RetryPolicy{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}, func() (int, error) {
				tries++
				if tries <= len(tc.errs) {
					return 0, tc.errs[tries-1]
				}
				return 1, nil
			}, tc.again, func(_ error, _ int, wait time.Duration) { waits = append(waits, wait) })
			if tries != tc.wantTries || !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
				t.Fatalf("%d tries, err %v; want %d, %v", tries, err, tc.wantTries, tc.wantErr)
			}
			if errors.Is(err, ErrRetried) != tc.wantRetried {
				t.Errorf("err %v: retried mark %v, want %v", err, errors.Is(err, ErrRetried), tc.wantRetried)
			}
			if err != nil && err.Error() != tc.wantErr.Error() {
				t.Errorf("the message changed: %q", err)
			}
			if len(waits) != tries-1 {
				t.Errorf("%d waits for %d tries", len(waits), tries)
			}
			for _, w := range waits {
				if w < time.Millisecond/2 || w > 3*time.Millisecond {
					t.Errorf("wait %v outside the policy's 1ms..2ms ±50%%", w)
				}
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	transient := fmt.Errorf("%w: timeout", ErrTransient)
	tries := 0
	_, err := Retry(ctx, RetryPolicy{Attempts: 4, Initial: time.Hour, Max: time.Hour}, func() (int, error) {
		tries++
		cancel()
		return 0, transient
	}, nil, nil)
	var stopped *RetryStopped
	if tries != 1 || !errors.As(err, &stopped) || !errors.Is(err, context.Canceled) || !errors.Is(stopped.Last, ErrTransient) {
		t.Fatalf("%d tries, err %v: want one try and the cancellation naming the last error", tries, err)
	}
}
