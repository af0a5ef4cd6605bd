package controller

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/redact"
)

// Every value of the Secrets a container uses — envFrom, secret-backed files, the root password,
// the credentials read back from the guest — is replaced with redact.Placeholder before text
// reaches a sink: status.scripts[].outputTail and condition messages (redactStatus), Events
// (redactingRecorder) and the error the reconcile returns, which controller-runtime logs.

// redactorRegistry finds the Redactor of the reconcile in flight for an object, for sinks such
// as the Event recorder that see only the object.
type redactorRegistry struct{ m sync.Map }

func (g *redactorRegistry) set(uid types.UID, r *redact.Redactor) { g.m.Store(uid, r) }
func (g *redactorRegistry) drop(uid types.UID)                    { g.m.Delete(uid) }

func (g *redactorRegistry) get(obj runtime.Object) *redact.Redactor {
	if obj == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	if r, ok := g.m.Load(m.GetUID()); ok {
		return r.(*redact.Redactor)
	}
	return nil
}

// newRedactor returns the Redactor of one reconcile of obj. The values of the Secrets the spec
// refers to are added as the resolver reads them; the root password and the credentials read
// back are loaded only when there is text to redact.
func (r *LXCContainerReconciler) newRedactor(ctx context.Context, obj *lxcv1.LXCContainer) *redact.Redactor {
	red := &redact.Redactor{}
	var names []string
	if ref := obj.Status.RootPasswordSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if ref := obj.Spec.RootPasswordSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if ref := obj.Status.CredentialsSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if len(names) > 0 {
		red.AddLoader(func() ([]string, error) {
			var values []string
			for _, name := range names {
				secret := &corev1.Secret{}
				if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, secret); err != nil {
					if !apierrors.IsNotFound(err) {
						return values, fmt.Errorf("reading Secret %s for redaction: %w", name, err)
					}
					continue
				}
				for _, v := range secret.Data {
					values = append(values, string(v))
				}
			}
			return values, nil
		})
	}
	return red
}

// redactStatus cleans the text of obj's status that may carry guest output.
func redactStatus(obj *lxcv1.LXCContainer, red *redact.Redactor) {
	for i := range obj.Status.Conditions {
		obj.Status.Conditions[i].Message = red.String(obj.Status.Conditions[i].Message)
	}
	for i := range obj.Status.Scripts {
		obj.Status.Scripts[i].OutputTail = red.String(obj.Status.Scripts[i].OutputTail)
	}
}

// redactingRecorder redacts an Event's note with the Redactor of the reconcile in flight for the
// object it regards. It must wrap the recorder that shortens notes, so a value is never cut in
// two before it is searched for.
type redactingRecorder struct {
	events.EventRecorder
	redactors *redactorRegistry
}

func (rr redactingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	red := rr.redactors.get(regarding)
	if red == nil {
		rr.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
		return
	}
	rr.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", red.String(fmt.Sprintf(note, args...)))
}
