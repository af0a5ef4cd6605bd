package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/placement"
	"templatemanager.dev/lxc-template-manager/internal/shard"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// Defaults of the LXCContainerReconciler's zero fields.
const (
	DefaultContainerResync = 10 * time.Minute
	DefaultTaskPoll        = 2 * time.Second
)

// LXCContainerReconciler drives an LXCContainer through the five phases — Create, Start,
// Deploy config-manager, Run scripts, Discover services — and keeps it true to its spec.
// A reconcile never waits for a Proxmox task or a script: it starts the work, records it in
// status.operation and requeues to poll.
type LXCContainerReconciler struct {
	client.Client
	// APIReader reads Secrets and ConfigMaps uncached.
	APIReader client.Reader
	Connector *ClusterConnector
	SSH       ssh.Connector
	Key       *ControllerKey
	Guests    *GuestCache
	Recorder  events.EventRecorder
	Metrics   *Metrics
	// Shard picks the containers this manager reconciles; the zero Shard picks all.
	Shard shard.Selector

	// Resync is how often a Ready container is checked against Proxmox and re-discovered.
	Resync time.Duration
	// FullCheck is how often a Ready container's whole Proxmox configuration is read.
	FullCheck time.Duration
	// TaskPoll is how soon an in-flight task or script is polled again.
	TaskPoll time.Duration
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int

	vmids placement.VMIDs
	// pool keeps one SSH connection per container, dialled in the background; its dials wake
	// their containers through connectionEvents.
	pool             *ssh.Pool
	poolOnce         sync.Once
	connectionEvents chan event.GenericEvent

	lastDiscover discoveryClock
	// lastAddress remembers when a DHCP container's interfaces were last read.
	lastAddress discoveryClock
	// unreached holds the containers the controller started or restarted whose guest has not
	// answered over SSH since: they are not Ready until it does.
	unreached uidSet
	// lastFullCheck remembers when a container's whole configuration was last read.
	lastFullCheck discoveryClock
	// lastFirewallCheck remembers when a container's firewall was last read, and for which
	// firewall of the spec.
	lastFirewallCheck discoveryClock
	// lastHACheck remembers when a container's HA resource was last read, and for which
	// spec.ha.
	lastHACheck discoveryClock
	// lastPoolCheck remembers when a container's pool was last read, and for which spec.pool.
	lastPoolCheck discoveryClock
	redactors     redactorRegistry
}

// Reconcile brings one LXCContainer a step closer to its spec. It adds the finalizer before any
// Proxmox call; a deleted object is stopped and destroyed (container_delete.go); a failed one
// waits out its back-off; otherwise the pipeline runs (container_pipeline.go) and the status is
// written once, at the end, with an Event when Ready changed. It never waits on Proxmox or the
// guest: what takes time is started, recorded in status and polled by later reconciles.
func (r *LXCContainerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &lxcv1.LXCContainer{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(obj) {
		// Another shard's, or moved to one: it stays in the cache for the checks that span the
		// fleet (quotas, addresses), but nothing is done to it here, its deletion included.
		return ctrl.Result{}, nil
	}
	s := &containerScope{obj: obj, patcher: outcome.NewPatcher(obj, r.Client, r.Recorder), redactor: r.newRedactor(ctx, obj)}
	r.redactors.set(obj.UID, s.redactor)
	defer r.redactors.drop(obj.UID)
	// Runs last, after the status write: the error is what controller-runtime logs.
	defer func() { retErr = s.redactor.Error(retErr) }()

	if !obj.DeletionTimestamp.IsZero() {
		defer func() {
			if controllerutil.ContainsFinalizer(obj, lxcv1.Finalizer) {
				redactStatus(obj, s.redactor)
				if perr := s.patcher.Patch(ctx, obj, errDeleting); perr != nil {
					retErr = errors.Join(retErr, perr)
				}
			}
		}()
		return r.reconcileDelete(ctx, s)
	}

	if !controllerutil.ContainsFinalizer(obj, lxcv1.Finalizer) {
		controllerutil.AddFinalizer(obj, lxcv1.Finalizer)
		if err := s.checkpoint(ctx); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
		}
	}

	requestedAt := obj.Annotations[lxcv1.ReconcileRequestAnnotation]
	s.requested = requestedAt != "" && requestedAt != obj.Status.LastHandledReconcileAt
	if obj.Status.Retry != nil {
		// A failure that was the cluster's ends with the cluster's return to Ready.
		cluster := &lxcv1.ProxmoxCluster{}
		if err := r.Get(ctx, types.NamespacedName{Name: obj.Spec.ClusterRef.Name}, cluster); err == nil {
			outcome.ReleaseByCluster(obj, cluster)
		}
	}
	if wait := outcome.RetryPending(obj, s.requested, time.Now()); wait > 0 {
		// A failed attempt is retried on its schedule, whatever woke the container up.
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	var err error
	defer func() {
		redactStatus(obj, s.redactor)
		if perr := s.patcher.Patch(ctx, obj, s.redactor.Error(err)); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()
	if isBake(obj) {
		orphaned, oerr := r.bakeOrphaned(ctx, obj)
		if oerr != nil {
			err = oerr
			return ctrl.Result{}, oerr
		}
		if orphaned {
			return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, obj))
		}
	}
	if isBake(obj) && provisionedOnce(obj) {
		// A bake that finished its five phases is stopped and made a template, never started again.
		err = r.reconcileBake(ctx, s)
	} else {
		err = r.runPipeline(ctx, s)
		if err == nil && isBake(obj) && provisionedOnce(obj) {
			err = r.reconcileBake(ctx, s)
		}
	}
	obj.Status.LastHandledReconcileAt = requestedAt
	return r.summarizeContainer(ctx, s, err)
}

func (r *LXCContainerReconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return DefaultContainerResync
}

func (r *LXCContainerReconciler) taskPoll() time.Duration {
	if r.TaskPoll > 0 {
		return r.TaskPoll
	}
	return DefaultTaskPoll
}

// SetupWithManager watches containers and requeues them when their template or cluster changes.
func (r *LXCContainerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = redactingRecorder{EventRecorder: outcome.WithShortNotes(r.Recorder), redactors: &r.redactors}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	// A dial of the SSH pool that ends wakes its container through this channel.
	r.connectionEvents = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		// A label change may move the container into this shard, which then takes it over.
		For(&lxcv1.LXCContainer{}, builder.WithPredicates(r.Shard.Predicate(), predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(predicate.Funcs{
			// Only a deleted Secret matters: the container must write it again.
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		// The ways back a change waits for (snapshotBeforeChange): their status moving on
		// wakes the container.
		Owns(&lxcv1.LXCSnapshot{}).
		Owns(&lxcv1.LXCRestore{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.containersForSecret), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.containersForConfigMap), builder.OnlyMetadata).
		Watches(&lxcv1.PackageBucket{}, handler.EnqueueRequestsFromMapFunc(r.containersForBucket),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCTemplate{}, handler.EnqueueRequestsFromMapFunc(r.containersForTemplate),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.ProxmoxCluster{}, handler.EnqueueRequestsFromMapFunc(r.containersForCluster),
			builder.WithPredicates(clusterReadinessChanged{})).
		// A deleted or changed sibling may free room in its namespace's quota, or an address.
		Watches(&lxcv1.LXCContainer{}, handler.EnqueueRequestsFromMapFunc(r.containersWaitingForSiblings),
			builder.WithPredicates(predicate.GenerationChangedPredicate{}, predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WatchesRawSource(source.Channel(r.connectionEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: outcome.RequeueLimiter()}).
		Named("lxccontainer").
		Complete(r)
}
