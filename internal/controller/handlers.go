package controller

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// referencesHandler requeues the objects an object references when it appears, disappears, or
// changes its references — before and after, so dropping a reference updates the object that
// lost it (usedBy counts). Other updates, such as status writes, requeue nothing.
func referencesHandler[T client.Object](refs func(T) []types.NamespacedName) handler.TypedEventHandler[client.Object, reconcile.Request] {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object) {
		t, ok := obj.(T)
		if !ok {
			return
		}
		for _, key := range refs(t) {
			q.Add(reconcile.Request{NamespacedName: key})
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldT, ok1 := e.ObjectOld.(T)
			newT, ok2 := e.ObjectNew.(T)
			if ok1 && ok2 && slices.Equal(refs(oldT), refs(newT)) {
				return
			}
			add(q, e.ObjectOld)
			add(q, e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
	}
}
