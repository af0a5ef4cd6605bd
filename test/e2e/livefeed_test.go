package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/progressfeed/redistest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// liveFeed listens, as the dashboard's progress page does, on every container's progress
// channel of a redis-server of the test's own, which the manager publishes to.
type liveFeed struct {
	srv  *redistest.Server
	mu   sync.Mutex
	msgs map[string][]feedMessage // by channel
}

type feedMessage struct {
	Type    string `json:"type"`
	Step    string `json:"step"`
	Percent *int   `json:"percent"`
	Message string `json:"message"`
}

// startLiveFeed starts the server and subscribes; the manager gets its URL through the
// environment, as the chart passes it.
func startLiveFeed(t *testing.T, s *stack) *liveFeed {
	t.Helper()
	f := &liveFeed{srv: redistest.Start(t, "e2e-redis-password"), msgs: map[string][]feedMessage{}}
	sub := f.srv.Client().PSubscribe(context.Background(), "container:*:progress")
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	go func() {
		for m := range sub.Channel() {
			var msg feedMessage
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				msg = feedMessage{Type: "unparsable", Message: m.Payload}
			}
			f.mu.Lock()
			f.msgs[m.Channel] = append(f.msgs[m.Channel], msg)
			f.mu.Unlock()
		}
	}()
	s.managerEnv = append(s.managerEnv, "LXCTM_MIRROR_REDIS_URL="+f.srv.URL())
	return f
}

func (f *liveFeed) of(uid string) []feedMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]feedMessage(nil), f.msgs["container:"+uid+":progress"]...)
}

// checkPhasesInOrder checks that a container's channel carried each of the five steps, in
// pipeline order with a percentage that never falls, then complete (published a moment after
// the status the test saw).
func (f *liveFeed) checkPhasesInOrder(t testing.TB, uid, name string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, func() error { return f.phasesInOrder(uid, name) })
}

func (f *liveFeed) phasesInOrder(uid, name string) error {
	msgs := f.of(uid)
	var steps []string
	last, completed := 0, false
	for _, m := range msgs {
		switch m.Type {
		case "step":
			if len(steps) == 0 || steps[len(steps)-1] != m.Step {
				steps = append(steps, m.Step)
			}
			if m.Percent == nil || *m.Percent < last {
				return testkit.Permanent(fmt.Errorf("%s: step %s at %v%% after %d%%", name, m.Step, m.Percent, last))
			}
			last = *m.Percent
		case "complete":
			completed = true
		case "error":
			return testkit.Permanent(fmt.Errorf("%s: an error on the feed of a container that became Ready: %q", name, m.Message))
		}
	}
	if got, want := strings.Join(steps, " "), "creating starting deploying syncing finalizing"; got != want || !completed {
		var all []string
		for _, m := range msgs {
			all = append(all, fmt.Sprintf("%s %s %v %q", m.Type, m.Step, m.Percent, m.Message))
		}
		return fmt.Errorf("%s's progress channel carried the steps %q and complete=%v, want %q then complete:\n%s",
			name, got, completed, want, strings.Join(all, "\n"))
	}
	return nil
}

// checkStall checks that a stalled container's channel carried its failure.
func (f *liveFeed) checkStall(t testing.TB, uid, name, reason string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, func() error {
		for _, m := range f.of(uid) {
			if m.Type == "error" && strings.HasPrefix(m.Message, reason+": ") {
				return nil
			}
		}
		return fmt.Errorf("%s's progress channel carried no error with reason %s: %+v", name, reason, f.of(uid))
	})
}
