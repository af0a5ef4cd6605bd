package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/redact"
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

	// Resync is how often a Ready container is checked against Proxmox and re-discovered.
	Resync time.Duration
	// FullCheck is how often a Ready container's whole Proxmox configuration is read.
	FullCheck time.Duration
	// TaskPoll is how soon an in-flight task or script is polled again.
	TaskPoll time.Duration
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int

	vmids        vmidAllocator
	lastDiscover discoveryClock
	// lastAddress remembers when a DHCP container's interfaces were last read.
	lastAddress discoveryClock
	// lastFullCheck remembers when a container's whole configuration was last read.
	lastFullCheck discoveryClock
	redactors     redactorRegistry
}

// containerScope is what one reconcile of one container works with.
type containerScope struct {
	obj      *lxcv1.LXCContainer
	template *lxcv1.LXCTemplate
	cluster  *lxcv1.ProxmoxCluster
	px       proxmox.Client
	desired  *desiredContainer
	patcher  *statusPatcher
	session  ssh.Session
	// guest is the container as the cluster-wide resource list last showed it, when known.
	guest *proxmox.Guest
	// config is the container's configuration when the create phase read it in this reconcile.
	config *proxmox.ContainerConfig
	// configChanged says this reconcile deployed a changed config-manager bundle (files or
	// env), which may be what a failed script was missing.
	configChanged bool
	// requested says a user asked for this reconcile through the reconcile-requested-at
	// annotation: failed runs are retried and services discovered afresh.
	requested bool
	// failedPhase is the condition of the phase that failed in this reconcile, if one did.
	failedPhase string
	// redactor replaces the values of the Secrets the container uses in text bound for
	// status, Events and logs.
	redactor *redact.Redactor
}

// containerConfig returns the container's configuration, read at most once per reconcile.
func (s *containerScope) containerConfig(ctx context.Context) (*proxmox.ContainerConfig, error) {
	if s.config == nil {
		cfg, err := s.px.ContainerConfig(ctx, s.obj.Status.Node, int(s.obj.Status.VMID))
		if err != nil {
			return nil, err
		}
		s.config = &cfg
	}
	return s.config, nil
}

func (s *containerScope) close() {
	if s.session != nil {
		_ = s.session.Close()
	}
}

// checkpoint persists the object now, mid-reconcile: the finalizer goes in before any Proxmox
// call, so nothing is ever created without it.
func (s *containerScope) checkpoint(ctx context.Context) error {
	return s.patcher.patch(ctx, s.obj, false)
}

// checkpointStatus persists the status now, mid-reconcile: what must survive a crash between a
// Proxmox write and the end of the reconcile.
func (s *containerScope) checkpointStatus(ctx context.Context) error {
	redactStatus(s.obj, s.redactor)
	return s.patcher.patch(ctx, s.obj, true)
}

func (r *LXCContainerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &lxcv1.LXCContainer{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &containerScope{obj: obj, patcher: newStatusPatcher(obj, r.Client, r.Recorder), redactor: r.newRedactor(ctx, obj)}
	r.redactors.set(obj.UID, s.redactor)
	defer r.redactors.drop(obj.UID)
	// Runs last, after the status write: the error is what controller-runtime logs.
	defer func() { retErr = s.redactor.Error(retErr) }()
	defer s.close()

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
			releaseByCluster(obj, cluster)
		}
	}
	if wait := retryPending(obj, s.requested, time.Now()); wait > 0 {
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
	err = r.runPipeline(ctx, s)
	obj.Status.LastHandledReconcileAt = requestedAt
	return r.summarizeContainer(ctx, s, err)
}

// phase is one step of the pipeline with the condition that records it.
type phase struct {
	condition string
	run       func(context.Context, *containerScope) (string, error)
}

// errDeleting marks status writes during deletion, which are progress, not news.
var errDeleting = Wait(0, lxcv1.DeletingReason, "deleting")

// errStopped ends the pipeline early for a container whose powerState is Stopped: the later
// phases keep their last outcome.
var errStopped = errors.New("stopped as spec.powerState asks")

func (r *LXCContainerReconciler) runPipeline(ctx context.Context, s *containerScope) error {
	if err := r.resolve(ctx, s); err != nil {
		return err
	}
	phases := []phase{
		{lxcv1.ContainerCreatedCondition, r.reconcileCreate},
		{lxcv1.ContainerStartedCondition, r.reconcileStart},
		{lxcv1.ConfigManagerDeployedCondition, r.deployConfigManager},
		{lxcv1.ScriptsCompletedCondition, r.reconcileScripts},
		{lxcv1.ServicesDiscoveredCondition, r.reconcileServices},
	}
	for _, p := range phases {
		msg, err := p.run(ctx, s)
		if errors.Is(err, errStopped) {
			conditions.MarkFalse(s.obj, p.condition, lxcv1.StoppedReason, "%s", errStopped.Error())
			return err
		}
		if err != nil {
			conditions.MarkFalse(s.obj, p.condition, reasonOf(err, failedReason(err)), "%s", err.Error())
			s.failedPhase = p.condition
			return err
		}
		if !conditions.IsTrue(s.obj, p.condition) {
			r.Metrics.observePhase(s.obj, p.condition)
		}
		conditions.MarkTrue(s.obj, p.condition, lxcv1.SucceededReason, "%s", msg)
	}
	return nil
}

// failedReason names a failure that carries no reason of its own: a Proxmox error by its kind
// (an unreachable cluster: Unreachable), anything else FailedReason. summarize uses it too, so
// that Ready, the failed phase and status.retry name the same reason.
func failedReason(err error) string {
	if proxmox.KindOf(err) != "" {
		return proxmoxReason(err)
	}
	return FailedReason
}

// resolve reads the template, the cluster and the buckets, and merges them into s.desired.
func (r *LXCContainerReconciler) resolve(ctx context.Context, s *containerScope) error {
	obj := s.obj
	tmpl := &lxcv1.LXCTemplate{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.TemplateRef.Name}, tmpl); err != nil {
		if apierrors.IsNotFound(err) {
			return Wait(dependencyRetry, lxcv1.DependencyNotReadyReason, "LXCTemplate %s not found", obj.Spec.TemplateRef.Name)
		}
		return err
	}
	s.template = tmpl
	cluster := &lxcv1.ProxmoxCluster{}
	if err := r.Get(ctx, types.NamespacedName{Name: obj.Spec.ClusterRef.Name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return Wait(dependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s not found", obj.Spec.ClusterRef.Name)
		}
		return err
	}
	s.cluster = cluster
	allowed, err := namespaceAllowed(ctx, r.Client, cluster, obj.Namespace)
	if err != nil {
		return err
	}
	if !allowed {
		return Stall(lxcv1.NamespaceNotAllowedReason, "ProxmoxCluster %s does not allow namespace %s", cluster.Name, obj.Namespace)
	}
	var exclude []string
	if obj.Spec.Packages != nil {
		exclude = obj.Spec.Packages.ExcludeBuckets
	}
	buckets, missing, err := fetchBuckets(ctx, r.Client, tmpl, exclude)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return Wait(dependencyRetry, lxcv1.DependencyNotReadyReason, "%s", missingBuckets(missing))
	}
	s.desired, err = buildDesired(ctx, resolver{reader: r.APIReader, namespace: obj.Namespace, redactor: s.redactor}, obj, tmpl, buckets)
	if err != nil {
		return err
	}
	px, err := r.Connector.Connect(ctx, cluster)
	if err != nil {
		if !isStallOrWait(err) {
			// Reading the cluster's Secrets failed (an API server restarting, say): nothing is
			// wrong with the cluster, and no change of its readiness would wake the container
			// from a dependency's wait, so it is retried with the back-off of a failure.
			return fmt.Errorf("ProxmoxCluster %s: %w", cluster.Name, err)
		}
		// A broken cluster is the cluster's condition to report; the container waits for it,
		// and the cluster's readiness changing wakes it.
		return Wait(dependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s: %v", cluster.Name, err)
	}
	s.px = px
	return nil
}

// summarizeContainer computes Ready, Reconciling, Stalled, phase and observedGeneration.
func (r *LXCContainerReconciler) summarizeContainer(ctx context.Context, s *containerScope, err error) (ctrl.Result, error) {
	obj := s.obj
	resync := r.resync()
	if errors.Is(err, errStopped) {
		res, serr := summarize(obj, "stopped as spec.powerState asks", nil, resync)
		obj.Status.Phase = "Stopped"
		return res, serr
	}
	res, serr := summarize(obj, readyMessage(obj), err, resync)
	obj.Status.Phase = phaseOf(obj)
	if err != nil && !isStallOrWait(err) && obj.Status.Retry != nil {
		// The failed phase says how often it failed and when it is tried again, like Ready.
		retry := obj.Status.Retry
		delay := retry.NextAttemptTime.Sub(retry.LastFailureTime.Time)
		note := attemptNote(retry.Attempts, delay)
		if s.failedPhase != "" {
			conditions.MarkFalse(obj, s.failedPhase, retry.Reason, "%s (%s)", err.Error(), note)
		}
		ctrl.LoggerFrom(ctx).Info("Reconcile failed; retrying with back-off", "reason", retry.Reason,
			"error", err.Error(), "attempt", retry.Attempts, "after", delay.Round(time.Millisecond))
	}
	return res, serr
}

func readyMessage(obj *lxcv1.LXCContainer) string {
	return fmt.Sprintf("CT %d on %s at %s with %d services", obj.Status.VMID, obj.Status.Node, obj.Status.IPAddress, len(obj.Status.Services))
}

// phaseOf names, for printing, the first phase not yet done, or the summary.
func phaseOf(obj *lxcv1.LXCContainer) string {
	if conditions.IsStalled(obj) {
		return "Failed"
	}
	if conditions.IsReady(obj) {
		return "Ready"
	}
	for _, p := range []struct{ cond, name string }{
		{lxcv1.ContainerCreatedCondition, "Creating"},
		{lxcv1.ContainerStartedCondition, "Starting"},
		{lxcv1.ConfigManagerDeployedCondition, "Configuring"},
		{lxcv1.ScriptsCompletedCondition, "Provisioning"},
		{lxcv1.ServicesDiscoveredCondition, "Discovering"},
	} {
		if !conditions.IsTrue(obj, p.cond) {
			return p.name
		}
	}
	return "Pending"
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
	r.Recorder = redactingRecorder{EventRecorder: withShortNotes(r.Recorder), redactors: &r.redactors}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.LXCContainer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(predicate.Funcs{
			// Only a deleted Secret matters: the container must write it again.
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.containersForSecret), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.containersForConfigMap), builder.OnlyMetadata).
		Watches(&lxcv1.PackageBucket{}, handler.EnqueueRequestsFromMapFunc(r.containersForBucket),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCTemplate{}, handler.EnqueueRequestsFromMapFunc(r.containersForTemplate),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.ProxmoxCluster{}, handler.EnqueueRequestsFromMapFunc(r.containersForCluster),
			builder.WithPredicates(clusterReadinessChanged{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: requeueLimiter()}).
		Named("lxccontainer").
		Complete(r)
}

func (r *LXCContainerReconciler) containersForTemplate(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{containerTemplateIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by template", "template", obj.GetName())
		return nil
	}
	return requestsFor(list.Items)
}

// containersForSecret requeues the containers a Secret's change reaches: through the cluster's
// SSH key, or as the source of files, envFrom variables or the root password.
func (r *LXCContainerReconciler) containersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	return append(r.containersForKeySecret(ctx, obj), r.containersForContent(ctx, obj, true)...)
}

func (r *LXCContainerReconciler) containersForConfigMap(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.containersForContent(ctx, obj, false)
}

// containersForContent finds the containers that use a Secret or ConfigMap themselves or
// through their template.
func (r *LXCContainerReconciler) containersForContent(ctx context.Context, obj client.Object, secret bool) []reconcile.Request {
	key := contentRef(secret, obj.GetName())
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{contentRefIndex: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by content", "object", key)
		return nil
	}
	reqs := requestsFor(list.Items)
	templates := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, templates, client.InNamespace(obj.GetNamespace()), client.MatchingFields{contentRefIndex: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates by content", "object", key)
		return reqs
	}
	for i := range templates.Items {
		reqs = append(reqs, r.containersForTemplate(ctx, &templates.Items[i])...)
	}
	return reqs
}

// containersForBucket requeues the containers whose templates install a changed PackageBucket.
func (r *LXCContainerReconciler) containersForBucket(ctx context.Context, obj client.Object) []reconcile.Request {
	templates := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, templates, client.InNamespace(obj.GetNamespace()), client.MatchingFields{templateBucketIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates by PackageBucket", "bucket", obj.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range templates.Items {
		reqs = append(reqs, r.containersForTemplate(ctx, &templates.Items[i])...)
	}
	return reqs
}

func (r *LXCContainerReconciler) containersForCluster(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by cluster", "cluster", obj.GetName())
		return nil
	}
	return requestsFor(list.Items)
}

// clusterReadinessChanged passes cluster events that can unblock or block containers: a new or
// deleted cluster, a spec change, or a change of readiness.
type clusterReadinessChanged struct {
	predicate.Funcs
}

func (clusterReadinessChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*lxcv1.ProxmoxCluster)
	n, ok2 := e.ObjectNew.(*lxcv1.ProxmoxCluster)
	if !ok1 || !ok2 {
		return true
	}
	return o.Generation != n.Generation || conditions.IsReady(o) != conditions.IsReady(n)
}
