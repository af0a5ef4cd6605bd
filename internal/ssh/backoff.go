package ssh

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule of Dial: Attempts tries, the first retry after Initial, each
// further one Factor times longer, capped at Max.
type Backoff struct {
	// Attempts is the total number of dial attempts, the first included.
	Attempts int
	// Initial is the wait before the second attempt.
	Initial time.Duration
	// Factor multiplies the wait after each attempt.
	Factor float64
	// Max caps a single wait; zero means no cap.
	Max time.Duration
	// Jitter spreads each wait randomly by up to this fraction (0.1 = ±10%), so many controllers
	// waiting for many containers do not retry in lockstep. Zero keeps the schedule exact.
	Jitter float64
}

// DefaultBackoff is five attempts, waiting 2 s, 4 s, 8 s and 16 s between them.
var DefaultBackoff = Backoff{Attempts: 5, Initial: 2 * time.Second, Factor: 2}

// withDefaults fills the zero fields from DefaultBackoff.
func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = DefaultBackoff.Attempts
	}
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Factor < 1 {
		b.Factor = DefaultBackoff.Factor
	}
	if b.Jitter < 0 {
		b.Jitter = 0
	}
	return b
}

// Delay is the wait after the given failed attempt (1-based), before the next one, without jitter.
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Initial) * math.Pow(b.Factor, float64(attempt-1))
	if b.Max > 0 && d > float64(b.Max) {
		return b.Max
	}
	if d > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// Delays is the whole schedule without jitter: the waits between the attempts, one fewer than
// Attempts.
func (b Backoff) Delays() []time.Duration {
	b = b.withDefaults()
	out := make([]time.Duration, 0, b.Attempts-1)
	for i := 1; i < b.Attempts; i++ {
		out = append(out, b.Delay(i))
	}
	return out
}

// jittered is Delay spread by Jitter.
func (b Backoff) jittered(attempt int) time.Duration {
	d := b.Delay(attempt)
	if b.Jitter == 0 {
		return d
	}
	spread := (rand.Float64()*2 - 1) * b.Jitter * float64(d)
	return time.Duration(float64(d) + spread)
}
