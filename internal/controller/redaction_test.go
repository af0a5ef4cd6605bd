package controller

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/redact"
)

// notes records Event notes.
type notes struct{ got []string }

func (n *notes) Eventf(_, _ runtime.Object, _, _, _, note string, args ...interface{}) {
	n.got = append(n.got, fmt.Sprintf(note, args...))
}

func TestRedactingRecorderUsesTheObjectsRedactor(t *testing.T) {
	red := &redact.Redactor{}
	red.Add("envfrom-value-1234")
	var reg redactorRegistry
	inner := &notes{}
	rec := redactingRecorder{EventRecorder: inner, redactors: &reg}
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u1")}}
	other := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u2")}}

	reg.set(obj.UID, red)
	rec.Eventf(obj, nil, "Warning", "ScriptFailed", "RunScript", "script boom exited 3; last output:\n%s", "key envfrom-value-1234 (100%)")
	rec.Eventf(other, nil, "Normal", "Ready", "Reconcile", "100%% %s", "done")
	reg.drop(obj.UID)
	rec.Eventf(obj, nil, "Normal", "Ready", "Reconcile", "after %s", "envfrom-value-1234")

	want := []string{"script boom exited 3; last output:\nkey [redacted] (100%)", "100% done", "after envfrom-value-1234"}
	if strings.Join(inner.got, "|") != strings.Join(want, "|") {
		t.Errorf("notes %q, want %q", inner.got, want)
	}
}

func TestRedactStatusCleansMessagesAndOutput(t *testing.T) {
	red := &redact.Redactor{}
	red.Add("hunter22")
	obj := &lxcv1.LXCContainer{Status: lxcv1.LXCContainerStatus{
		Conditions: []metav1.Condition{{Type: lxcv1.ScriptsCompletedCondition, Message: "exited 1; pw hunter22"}},
		Scripts:    []lxcv1.ScriptStatus{{Name: "s", OutputTail: "hunter22\nok"}},
	}}
	redactStatus(obj, red)
	if m := obj.Status.Conditions[0].Message; m != "exited 1; pw [redacted]" {
		t.Errorf("message %q", m)
	}
	if o := obj.Status.Scripts[0].OutputTail; o != "[redacted]\nok" {
		t.Errorf("output tail %q", o)
	}
}
