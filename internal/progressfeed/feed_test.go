package progressfeed

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/progress"
	"templatemanager.dev/lxc-template-manager/internal/progressfeed/redistest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// phaseConditions are the five phase conditions in pipeline order.
var phaseConditions = []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition,
	lxcv1.ConfigManagerDeployedCondition, lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition}

// TestFeedPublishesProvisioningSteps follows a new container, whose status moves through the
// five phases one by one to Ready, on its channel as the progress page does: the steps creating,
// starting, deploying, syncing and finalizing, then complete, with a growing percentage; and
// the replay list holds the same messages.
func TestFeedPublishesProvisioningSteps(t *testing.T) {
	srv := redistest.Start(t, "")
	k8s := cluster(t)
	startFeed(t, Options{URL: srv.URL()})
	c := newContainer(t, k8s)
	rdb := srv.Client()
	sub := subscribe(t, rdb, c.UID)
	start := time.Now()

	setConditions(t, k8s, c, cond(lxcv1.ReadyCondition, metav1.ConditionFalse, "Progressing", "Provisioning"))
	for _, typ := range phaseConditions {
		setConditions(t, k8s, c, cond(typ, metav1.ConditionFalse, "Progressing", "Working on "+typ))
		setConditions(t, k8s, c, cond(typ, metav1.ConditionTrue, "Succeeded", ""))
	}
	setConditions(t, k8s, c, cond(lxcv1.ReadyCondition, metav1.ConditionTrue, "Succeeded", "Provisioned"))

	// Each phase is told running (its message) and done (the feed's text, the condition has none).
	var payloads []string
	var steps []string
	percent := 0
	for range 2*len(phaseConditions) + 1 {
		payload, m := sub.next(time.Minute)
		payloads = append(payloads, payload)
		if m.Percent == nil || *m.Percent <= percent {
			t.Errorf("%s: the percentage does not grow past %d", payload, percent)
		} else {
			percent = *m.Percent
		}
		if at, err := time.Parse("2006-01-02T15:04:05.000Z", m.Timestamp); err != nil || at.Before(start.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("%s: timestamp not an ISO string of the test's time (%v)", payload, err)
		}
		if m.Type == TypeComplete {
			if m.Message != "Provisioned" || *m.Percent != 100 || len(payloads) != 2*len(phaseConditions)+1 {
				t.Errorf("%s: complete too early or not what Ready says", payload)
			}
			continue
		}
		if m.Type != TypeStep || m.Message == "" {
			t.Errorf("%s: want a step with a message", payload)
		}
		if len(steps) == 0 || steps[len(steps)-1] != m.Step {
			steps = append(steps, m.Step)
		}
	}
	want := []string{progress.StepCreating, progress.StepStarting, progress.StepDeploying, progress.StepSyncing, progress.StepFinalizing}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}

	// The replay list holds the same messages, in the same order, and expires.
	ctx := context.Background()
	listed, err := rdb.LRange(ctx, LogsKey(c.UID), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(listed, payloads) {
		t.Errorf("%s holds\n%s\nthe channel carried\n%s", LogsKey(c.UID), strings.Join(listed, "\n"), strings.Join(payloads, "\n"))
	}
	if ttl, err := rdb.TTL(ctx, LogsKey(c.UID)).Result(); err != nil || ttl <= LogsTTL-time.Minute || ttl > LogsTTL {
		t.Errorf("%s expires in %v (%v), want about %v", LogsKey(c.UID), ttl, err, LogsTTL)
	}
}

// TestFeedPublishesStallsAndEvents shows a stall arriving as an error with its reason and
// message, and a Warning Event about the container as a log line.
func TestFeedPublishesStallsAndEvents(t *testing.T) {
	srv := redistest.Start(t, "")
	k8s := cluster(t)
	startFeed(t, Options{URL: srv.URL()})
	c := newContainer(t, k8s)
	sub := subscribe(t, srv.Client(), c.UID)

	setConditions(t, k8s, c,
		cond(lxcv1.ReadyCondition, metav1.ConditionFalse, "TemplateInvalid", "template web does not exist"),
		cond(lxcv1.StalledCondition, metav1.ConditionTrue, "TemplateInvalid", "template web does not exist"))
	if _, m := sub.next(time.Minute); m.Type != TypeStep || m.Step != progress.StepCreating {
		t.Errorf("first %+v, want the creating step the container waits in", m)
	}
	if _, m := sub.next(time.Minute); m.Type != TypeError || m.Message != "TemplateInvalid: template web does not exist" || m.Percent != nil {
		t.Errorf("after the stall %+v, want the error TemplateInvalid: template web does not exist", m)
	}

	e := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: "web-1.script-failed"},
		EventTime:  metav1.NewMicroTime(time.Now()),
		Regarding: corev1.ObjectReference{Kind: "LXCContainer", APIVersion: lxcv1.GroupVersion.String(),
			Namespace: c.Namespace, Name: c.Name, UID: c.UID},
		Type: corev1.EventTypeWarning, Reason: "ScriptFailed", Action: "Provision", Note: "script page exited with 1",
		ReportingController: "templatemanager.dev/lxccontainer-controller", ReportingInstance: "progressfeed-test",
	}
	if err := k8s.Create(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if _, m := sub.next(time.Minute); m.Type != TypeLog || m.Message != "ScriptFailed: script page exited with 1" || m.Step != "" {
		t.Errorf("after the Event %+v, want the log line ScriptFailed: script page exited with 1", m)
	}
}

// TestFeedOutlivesARedisOutage kills Redis under the feed: changes go on without waiting for it,
// failed attempts are counted and logged (with the address, never the password), the queue
// drops what it cannot hold, and once redis-server is back on its port messages arrive again.
func TestFeedOutlivesARedisOutage(t *testing.T) {
	const password = "redis-pass-5e0b7a"
	srv := redistest.Start(t, password)
	k8s := cluster(t)
	r := startFeed(t, Options{URL: srv.URL(), QueueSize: 4, MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	c := newContainer(t, k8s)
	sub := subscribe(t, srv.Client(), c.UID)
	setConditions(t, k8s, c, cond(lxcv1.ReadyCondition, metav1.ConditionFalse, "Progressing", "Provisioning"))
	if _, m := sub.next(time.Minute); m.Step != progress.StepCreating {
		t.Fatalf("before the outage %+v, want the creating step", m)
	}

	srv.Kill()
	for _, typ := range phaseConditions {
		setConditions(t, k8s, c, cond(typ, metav1.ConditionTrue, "Succeeded", ""))
	}
	// The handler the informer calls returns at once, however many messages wait.
	for range 50 {
		returned := make(chan struct{})
		go func() { r.feed.containerChanged(&lxcv1.LXCContainer{}, c); close(returned) }()
		select {
		case <-returned:
		case <-time.After(time.Second):
			t.Fatal("the informer's handler waits for Redis")
		}
	}
	testkit.Eventually(t, time.Minute, func() error {
		if n := testutil.ToFloat64(r.metrics.Errors); n < 2 {
			return fmt.Errorf("%v failed attempts counted", n)
		}
		if n := testutil.ToFloat64(r.metrics.Dropped); n < 1 {
			return fmt.Errorf("%v messages dropped", n)
		}
		return nil
	})
	logged := r.log.String()
	addr := fmt.Sprintf(`"redis"=%q`, srv.Addr())
	if !strings.Contains(logged, "cannot publish to Redis") || !strings.Contains(logged, `"retryIn"`) || !strings.Contains(logged, addr) {
		t.Errorf("the log does not name the failure, the back-off and %s:\n%s", addr, logged)
	}

	published := testutil.ToFloat64(r.metrics.Published)
	srv.Start()
	sub = subscribe(t, srv.Client(), c.UID)
	setConditions(t, k8s, c, cond(lxcv1.ReadyCondition, metav1.ConditionTrue, "Succeeded", "Provisioned"))
	// What the queue kept comes first; the change after the outage follows.
	deadline := time.Now().Add(time.Minute)
	for {
		_, m := sub.next(time.Until(deadline))
		if m.Type == TypeComplete && m.Message == "Provisioned" {
			break
		}
	}
	if n := testutil.ToFloat64(r.metrics.Published); n <= published {
		t.Errorf("published_total %v after Redis came back, %v before", n, published)
	}
	if !strings.Contains(r.log.String(), "publishes to Redis again") {
		t.Errorf("the log does not say the feed publishes again:\n%s", r.log)
	}
	testkit.AssertNoSecrets(t, map[string]string{"the feed's log": r.log.String()}, map[string]string{"Redis password": password})
}
