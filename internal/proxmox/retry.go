package proxmox

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds how a call retries transient failures (5xx, timeouts, dropped
// connections, locks). The defaults keep a call well under a reconcile's budget: at most four
// attempts with 250 ms, 500 ms and 1 s pauses (each jittered down to half), and no new attempt
// after 20 s.
type RetryPolicy struct {
	// Attempts is the total number of tries including the first; 1 disables retries.
	Attempts int
	// InitialBackoff is the pause before the second attempt; it doubles for each further one.
	InitialBackoff time.Duration
	// MaxBackoff caps a single pause.
	MaxBackoff time.Duration
	// MaxElapsed is the budget after which no new attempt starts.
	MaxElapsed time.Duration
}

const (
	DefaultRetryAttempts       = 4
	DefaultRetryInitialBackoff = 250 * time.Millisecond
	DefaultRetryMaxBackoff     = 2 * time.Second
	DefaultRetryMaxElapsed     = 20 * time.Second
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultRetryInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultRetryMaxBackoff
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultRetryMaxElapsed
	}
	return p
}

// Backoff returns the pause before attempt n+1 after n failed attempts (n ≥ 1): the
// exponential step, jittered uniformly into its upper half so concurrent callers spread out
// while every pause stays at least half the step.
func (p RetryPolicy) Backoff(n int) time.Duration {
	p = p.withDefaults()
	step := p.InitialBackoff
	for i := 1; i < n && step < p.MaxBackoff; i++ {
		step *= 2
	}
	step = min(step, p.MaxBackoff)
	half := step / 2
	return half + time.Duration(rand.Int64N(int64(step-half)+1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
