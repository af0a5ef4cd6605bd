package controller

import (
	"context"

	"errors"
	"fmt"

	"sort"
	"strconv"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// DefaultSyncInterval is how often a ProxmoxCluster is read when spec.syncInterval is unset.
const DefaultSyncInterval = 5 * time.Minute

// ProxmoxClusterReconciler keeps a ProxmoxCluster's status true to the cluster: version, nodes,
// storages and OS templates.
type ProxmoxClusterReconciler struct {
	client.Client
	Connector *ClusterConnector
	Recorder  events.EventRecorder
	// Shard picks the clusters whose status and finalizer this manager keeps; the zero Shard
	// picks all. Every shard connects to every cluster its containers use.
	Shard shard.Selector
}

// Reconcile connects to a cluster with its credentials and records its version, nodes,
// storages and OS templates. Credentials or a certificate Proxmox refuses stall the cluster;
// other failures are retried on a back-off that stops at a minute, since the cluster turning
// Ready again releases the containers its outage failed.
func (r *ProxmoxClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	cluster := &lxcv1.ProxmoxCluster{}
	if err := r.Get(ctx, req.NamespacedName, cluster); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Connector.Factory.Forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(cluster) {
		return ctrl.Result{}, nil
	}
	sp := outcome.NewPatcher(cluster, r.Client, r.Recorder)
	if !cluster.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, cluster, sp)
	}
	if !controllerutil.ContainsFinalizer(cluster, lxcv1.Finalizer) {
		controllerutil.AddFinalizer(cluster, lxcv1.Finalizer)
		if err := sp.Checkpoint(ctx, cluster, false); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
		}
	}

	var err error
	defer func() {
		if perr := sp.Patch(ctx, cluster, err); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()

	interval := syncInterval(cluster)
	err = r.sync(ctx, cluster)
	if uerr := r.recordUsage(ctx, cluster); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil && !outcome.IsStallOrWait(err) {
		reason := outcome.Of(err).Reason
		if reason == lxcv1.AuthenticationFailedReason || reason == lxcv1.TLSFailedReason {
			// Only a person can fix credentials or a certificate: Stalled says so.
			err = outcome.Stall(reason, "%s", err.Error())
		} else {
			err = outcome.Failed(reason, err)
		}
	}
	msg := fmt.Sprintf("Proxmox VE %s with %d nodes (%d online) and %d OS templates",
		cluster.Status.Version, len(cluster.Status.Nodes), onlineNodes(cluster), len(cluster.Status.Templates))
	result, retErr = outcome.Summarize(cluster, msg, err, interval)
	var stall *outcome.StallError
	if errors.As(err, &stall) {
		// The fix may come from outside the object (a Secret's contents, the server's
		// certificate), so look again, on the same back-off schedule as failures.
		_, result.RequeueAfter = outcome.CountFailure(cluster, stall.Reason, time.Now())
	}
	if retry := cluster.Status.Retry; err != nil && retry != nil {
		ctrl.LoggerFrom(ctx).Info("Reading the cluster failed; retrying with back-off", "reason", retry.Reason,
			"error", err.Error(), "attempt", retry.Attempts, "after", result.RequeueAfter.Round(time.Millisecond))
	}
	return result, retErr
}

// reconcileDelete keeps a cluster that containers still use until they are gone, so that
// deleting them afterwards can still destroy their Proxmox containers; then lets it go.
func (r *ProxmoxClusterReconciler) reconcileDelete(ctx context.Context, cluster *lxcv1.ProxmoxCluster, sp *outcome.Patcher) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cluster, lxcv1.Finalizer) {
		r.Connector.Factory.Forget(cluster.Name)
		return ctrl.Result{}, nil
	}
	users := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, users, client.MatchingFields{containerClusterIndex: cluster.Name}); err != nil {
		return ctrl.Result{}, err
	}
	if n := len(users.Items); n > 0 {
		msg := fmt.Sprintf("deleting: in use by %d containers; it goes once they are deleted", n)
		conditions.MarkFalse(cluster, lxcv1.ReadyCondition, lxcv1.InUseReason, "%s", msg)
		conditions.MarkReconciling(cluster, lxcv1.InUseReason, "%s", msg)
		// The containers' deletion wakes the cluster up (see SetupWithManager).
		return ctrl.Result{}, sp.Patch(ctx, cluster, errDeleting)
	}
	r.Connector.Factory.Forget(cluster.Name)
	controllerutil.RemoveFinalizer(cluster, lxcv1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(sp.Checkpoint(ctx, cluster, false))
}

// sync reads the cluster into status.
func (r *ProxmoxClusterReconciler) sync(ctx context.Context, cluster *lxcv1.ProxmoxCluster) error {
	pc, auth, err := r.Connector.connect(ctx, cluster)
	if err != nil {
		return err
	}
	cluster.Status.RootLogin = auth.Root()
	version, err := pc.Version(ctx)
	if err != nil {
		return outcome.Failed(outcome.ProxmoxReason(err), fmt.Errorf("reading the version: %w", err))
	}
	nodes, err := pc.Nodes(ctx)
	if err != nil {
		return outcome.Failed(outcome.ProxmoxReason(err), fmt.Errorf("listing nodes: %w", err))
	}
	var storages []lxcv1.ClusterStorage
	for _, n := range nodes {
		if !n.Online() {
			continue
		}
		list, err := pc.Storages(ctx, n.Name)
		if err != nil {
			return outcome.Failed(outcome.ProxmoxReason(err), fmt.Errorf("listing the storages of node %s: %w", n.Name, err))
		}
		for _, s := range list {
			storages = append(storages, lxcv1.ClusterStorage{
				Node: n.Name, Name: s.Name, Content: joinContent(s.Content), Active: s.Active && s.Enabled,
			})
		}
	}
	templates, err := proxmox.DiscoverOSTemplates(ctx, pc, nodes)
	if err != nil {
		return outcome.Failed(outcome.ProxmoxReason(err), fmt.Errorf("listing OS templates: %w", err))
	}

	cluster.Status.Version = version.Version
	cluster.Status.Nodes = make([]lxcv1.ClusterNode, 0, len(nodes))
	for _, n := range nodes {
		cluster.Status.Nodes = append(cluster.Status.Nodes, lxcv1.ClusterNode{
			Name:       n.Name,
			Status:     n.Status,
			CPU:        strconv.FormatFloat(n.CPU, 'f', 3, 64),
			MaxCPU:     int32(n.MaxCPU),
			MaxMemory:  int64(n.MaxMemory),
			FreeMemory: int64(n.FreeMemory),
		})
	}
	sort.Slice(cluster.Status.Nodes, func(i, j int) bool { return cluster.Status.Nodes[i].Name < cluster.Status.Nodes[j].Name })
	cluster.Status.Storages = storages
	cluster.Status.Templates = make([]lxcv1.ClusterTemplate, 0, len(templates))
	for _, t := range templates {
		cluster.Status.Templates = append(cluster.Status.Templates, lxcv1.ClusterTemplate{Node: t.Node, Storage: t.Storage, VolID: t.VolID})
	}
	now := metav1.Now()
	cluster.Status.LastSyncTime = &now
	return nil
}

func syncInterval(cluster *lxcv1.ProxmoxCluster) time.Duration {
	if cluster.Spec.SyncInterval != nil && cluster.Spec.SyncInterval.Duration > 0 {
		return cluster.Spec.SyncInterval.Duration
	}
	return DefaultSyncInterval
}

func onlineNodes(cluster *lxcv1.ProxmoxCluster) int {
	n := 0
	for _, node := range cluster.Status.Nodes {
		if node.Status == "online" {
			n++
		}
	}
	return n
}

func joinContent(content []string) string {
	sorted := append([]string(nil), content...)
	sort.Strings(sorted)
	out := ""
	for i, c := range sorted {
		if i > 0 {
			out += ","
		}
		out += c
	}
	return out
}

// SetupWithManager watches ProxmoxClusters and the Secrets they reference (metadata only).
func (r *ProxmoxClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.ProxmoxCluster{}, builder.WithPredicates(r.Shard.Predicate(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Secret{},
			handler.EnqueueRequestsFromMapFunc(r.clustersForSecret),
			builder.OnlyMetadata).
		// A deleted container may be the last that held a deleting cluster.
		Watches(&lxcv1.LXCContainer{}, handler.EnqueueRequestsFromMapFunc(clusterOfContainer),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("proxmoxcluster").
		Complete(r)
}

// clustersForSecret requeues the clusters whose credentials or CA live in a Secret.
func (r *ProxmoxClusterReconciler) clustersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	key := obj.GetNamespace() + "/" + obj.GetName()
	list := &lxcv1.ProxmoxClusterList{}
	if err := r.List(ctx, list, client.MatchingFields{clusterSecretIndex: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clusters by Secret", "secret", key)
		return nil
	}
	return requestsFor(list.Items)
}

// clusterOfContainer requeues the cluster a container names.
func clusterOfContainer(_ context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*lxcv1.LXCContainer)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: c.Spec.ClusterRef.Name}}}
}
