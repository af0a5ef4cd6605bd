package ssh

import (
	"slices"
	"testing"
	"time"
)

func TestBackoffDefaultSchedule(t *testing.T) {
	got := Backoff{}.Delays()
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("default delays = %v, want %v", got, want)
	}
	if d := DefaultBackoff.Delays(); !slices.Equal(d, want) {
		t.Fatalf("DefaultBackoff delays = %v, want %v", d, want)
	}
}

func TestBackoffConfigured(t *testing.T) {
	cases := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{"one attempt has no wait", Backoff{Attempts: 1}, []time.Duration{}},
		{"factor three", Backoff{Attempts: 4, Initial: time.Second, Factor: 3}, []time.Duration{time.Second, 3 * time.Second, 9 * time.Second}},
		{"capped", Backoff{Attempts: 6, Initial: time.Second, Factor: 2, Max: 5 * time.Second},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"factor below one doubles", Backoff{Attempts: 3, Initial: 100 * time.Millisecond, Factor: 0.5},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Delays(); !slices.Equal(got, tc.want) {
				t.Fatalf("delays = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoffHugeAttemptDoesNotOverflow(t *testing.T) {
	if d := (Backoff{Initial: time.Second, Factor: 10}).Delay(400); d <= 0 {
		t.Fatalf("delay of attempt 400 = %v, want a large positive duration", d)
	}
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	b := Backoff{Attempts: 5, Initial: time.Second, Factor: 2, Jitter: 0.2}.withDefaults()
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.jittered(2)
		if d < 1600*time.Millisecond || d > 2400*time.Millisecond {
			t.Fatalf("jittered delay %v outside 2s±20%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("jitter produced only %d distinct delays", len(seen))
	}
	if d := (Backoff{Initial: time.Second}).withDefaults().jittered(1); d != time.Second {
		t.Fatalf("delay without jitter = %v, want 1s", d)
	}
}
