package progressfeed

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestProgressTimestampIsJavaScriptsISOString(t *testing.T) {
	for in, want := range map[time.Time]string{
		// new Date(Date.UTC(2026, 2, 4, 4, 6, 7, 89)).toISOString()
		time.Date(2026, 3, 4, 5, 6, 7, 89_999_999, time.FixedZone("CET", 3600)): "2026-03-04T04:06:07.089Z",
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC):                        "2026-12-31T23:59:59.000Z",
	} {
		if got := Timestamp(in); got != want {
			t.Errorf("Timestamp(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestProgressMessageJSON(t *testing.T) {
	for _, tc := range []struct {
		msg  Message
		want string
	}{
		{Message{Type: TypeLog, Message: "ScriptFailed: exit 1", Timestamp: "2026-03-04T04:06:07.089Z"},
			`{"type":"log","message":"ScriptFailed: exit 1","timestamp":"2026-03-04T04:06:07.089Z"}`},
		{Message{Type: TypeStep, Step: "starting", Percent: ptr.To(25), Message: "Starting", Timestamp: "2026-03-04T04:06:07.089Z"},
			`{"type":"step","step":"starting","percent":25,"message":"Starting","timestamp":"2026-03-04T04:06:07.089Z"}`},
		{Message{Type: TypeError, Message: "", Timestamp: "2026-03-04T04:06:07.089Z"},
			`{"type":"error","message":"","timestamp":"2026-03-04T04:06:07.089Z"}`},
	} {
		got, err := json.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// withConditions is a container whose status holds conds.
func withConditions(conds ...metav1.Condition) *lxcv1.LXCContainer {
	c := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "uid-1"}}
	for i := range conds {
		conds[i].LastTransitionTime = metav1.Now()
	}
	c.Status.Conditions = conds
	return c
}

func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

func TestProgressContainerMessages(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ts := Timestamp(at)
	created := cond(lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, "Created", "")
	starting := cond(lxcv1.ContainerStartedCondition, metav1.ConditionFalse, "Starting", "Waiting for the guest")
	started := cond(lxcv1.ContainerStartedCondition, metav1.ConditionTrue, "Started", "Started on pve1")
	notReady := cond(lxcv1.ReadyCondition, metav1.ConditionFalse, "Progressing", "Starting")
	ready := cond(lxcv1.ReadyCondition, metav1.ConditionTrue, "Succeeded", "Provisioned")
	stalled := cond(lxcv1.StalledCondition, metav1.ConditionTrue, "TemplateInvalid", "template web has no OS template")
	for name, tc := range map[string]struct {
		old, new *lxcv1.LXCContainer
		want     []Message
	}{
		"new steps, the condition's message or a text of its own": {
			withConditions(notReady), withConditions(notReady, created, starting),
			[]Message{
				{Type: TypeStep, Step: "creating", Percent: ptr.To(20), Message: "Container created", Timestamp: ts},
				{Type: TypeStep, Step: "starting", Percent: ptr.To(25), Message: "Waiting for the guest", Timestamp: ts},
			}},
		"a running step done": {
			withConditions(notReady, created, starting), withConditions(notReady, created, started),
			[]Message{{Type: TypeStep, Step: "starting", Percent: ptr.To(35), Message: "Started on pve1", Timestamp: ts}}},
		"no new step, nothing": {
			withConditions(notReady, created, starting),
			withConditions(notReady, created, cond(lxcv1.ContainerStartedCondition, metav1.ConditionFalse, "Retrying", "again")),
			nil},
		"Ready turns True": {
			withConditions(notReady, created, started), withConditions(ready, created, started),
			[]Message{{Type: TypeComplete, Percent: ptr.To(100), Message: "Provisioned", Timestamp: ts}}},
		"Ready stays True": {withConditions(ready), withConditions(ready), nil},
		"Stalled turns True": {
			withConditions(notReady), withConditions(notReady, stalled),
			[]Message{{Type: TypeError, Message: "TemplateInvalid: template web has no OS template", Timestamp: ts}}},
		"added after the initial list": {
			&lxcv1.LXCContainer{}, withConditions(notReady, created),
			[]Message{{Type: TypeStep, Step: "creating", Percent: ptr.To(20), Message: "Container created", Timestamp: ts}}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := containerMessages(tc.old, tc.new, at); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %s\nwant %s", asJSON(got), asJSON(tc.want))
			}
		})
	}
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestProgressEventMessage(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e := &eventsv1.Event{Reason: "ScriptFailed", Note: "script page exited with 1",
		Regarding: corev1.ObjectReference{Kind: "LXCContainer", APIVersion: lxcv1.GroupVersion.String(), UID: "uid-1"}}
	uid, msg, ok := eventMessage(e, at)
	want := Message{Type: TypeLog, Message: "ScriptFailed: script page exited with 1", Timestamp: Timestamp(at)}
	if !ok || uid != "uid-1" || msg != want {
		t.Errorf("eventMessage = %q, %+v, %v; want uid-1, %+v", uid, msg, ok, want)
	}
	e.Regarding.APIVersion = "example.com/v1"
	if _, _, ok := eventMessage(e, at); ok {
		t.Error("an Event about another API group's LXCContainer is on a container's channel")
	}
}

func TestProgressQueueDropsTheOldest(t *testing.T) {
	dropped := 0
	q := newQueue(2, func() { dropped++ })
	for _, m := range []string{"a", "b", "c"} {
		q.push(item{uid: "u", msg: Message{Message: m}})
	}
	var got []string
	for it, ok := q.pop(); ok; it, ok = q.pop() {
		got = append(got, it.msg.Message)
	}
	if strings.Join(got, "") != "bc" || dropped != 1 {
		t.Errorf("queue of 2 after a, b, c holds %v with %d dropped, want [b c] with 1", got, dropped)
	}
}

// TestFeedURLErrorsKeepThePassword shows that a URL the feed cannot read is refused without
// quoting it: it may hold a password.
func TestFeedURLErrorsKeepThePassword(t *testing.T) {
	const password = "pw-7c1d9e"
	for _, u := range []string{
		"redis://:" + password + "@[::1:6379/0",
		"http://:" + password + "@127.0.0.1:6379",
		"redis://:" + password + "@127.0.0.1:6379/zero",
		"redis://:" + password + "@127.0.0.1:port",
	} {
		_, err := New(nil, Options{URL: u})
		if err == nil {
			t.Errorf("New accepted %q", u)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error quotes the password: %v", err)
		}
		t.Log(err)
	}
	f, err := New(nil, Options{URL: "rediss://user:" + password + "@redis.cache:6380/2"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Addr() != "redis.cache:6380" {
		t.Errorf("a rediss URL's address is %q", f.Addr())
	}
}
