package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/ostemplate"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// LXCTemplateReconciler resolves a template's package buckets, checks its OS template against
// the clusters' discovered templates, and counts the containers that use it.
type LXCTemplateReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Shard picks the templates this manager reconciles (and bakes); the zero Shard picks all.
	Shard shard.Selector
}

// Reconcile checks that a template can be used: its buckets, ConfigMaps and Secrets exist and
// its OS template is on a node of an allowed, Ready cluster. It records the resolved packages,
// the OS template per node and the number of containers that use it; it changes nothing in
// Proxmox.
func (r *LXCTemplateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	tmpl := &lxcv1.LXCTemplate{}
	if err := r.Get(ctx, req.NamespacedName, tmpl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(tmpl) {
		// Every shard reads the template; one writes its status and makes its bakes.
		return ctrl.Result{}, nil
	}
	sp := outcome.NewPatcher(tmpl, r.Client, r.Recorder)
	var err error
	defer func() {
		if perr := sp.Patch(ctx, tmpl, err); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()

	var note string
	note, err = r.reconcile(ctx, tmpl)
	msg := fmt.Sprintf("%d packages resolved, OS template available, used by %d containers%s",
		desired.CountPackages(tmpl.Status.ResolvedPackages), tmpl.Status.UsedBy, note)
	return outcome.Summarize(tmpl, msg, err, 0)
}

// reconcile checks the template; note is what Ready's message adds when the template is usable.
func (r *LXCTemplateReconciler) reconcile(ctx context.Context, tmpl *lxcv1.LXCTemplate) (note string, err error) {
	containers := &lxcv1.LXCContainerList{}
	// Only counted: copying each of thousands of containers out of the cache, at every
	// container created, made provisioning a large fleet quadratic.
	if err := r.List(ctx, containers, client.InNamespace(tmpl.Namespace), client.MatchingFields{containerTemplateIndex: tmpl.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return "", err
	}
	tmpl.Status.UsedBy = 0
	for i := range containers.Items {
		if !isBake(&containers.Items[i]) {
			tmpl.Status.UsedBy++
		}
	}

	buckets, missing, err := fetchBuckets(ctx, r.Client, tmpl, nil)
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		tmpl.Status.ResolvedPackages = nil
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.PackageBucketNotFoundReason, "%s", missingBuckets(missing))
	}
	tmpl.Status.ResolvedPackages = desired.ResolvePackages(buckets, tmpl.Spec.Packages)
	if missing, err := r.missingContent(ctx, tmpl); err != nil {
		return "", err
	} else if len(missing) > 0 {
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "%s not found", strings.Join(missing, ", "))
	}

	resolved, rootLogin, err := r.osTemplatesListed(ctx, tmpl)
	if err != nil {
		return "", err
	}
	tmpl.Status.OSTemplates = resolved
	if len(resolved) == 0 {
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.OSTemplateNotFoundReason,
			"no Ready ProxmoxCluster allowed for namespace %s lists OS template %s", tmpl.Namespace, ostemplate.Wanted(tmpl.Spec.OSTemplate))
	}
	if err := r.reconcileBakes(ctx, tmpl, containers.Items); err != nil {
		return "", err
	}
	return rootLoginNote(tmpl, resolved, rootLogin)
}

// missingContent names the Secrets and ConfigMaps the template's files and scripts come from
// that do not exist. Only their metadata is read, from the cache.
func (r *LXCTemplateReconciler) missingContent(ctx context.Context, tmpl *lxcv1.LXCTemplate) ([]string, error) {
	var missing []string
	for _, ref := range templateContentRefs(tmpl) {
		kind, name, _ := strings.Cut(ref, "/")
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		err := r.Get(ctx, types.NamespacedName{Namespace: tmpl.Namespace, Name: name}, meta)
		switch {
		case apierrors.IsNotFound(err):
			if !slices.Contains(missing, kind+" "+name) {
				missing = append(missing, kind+" "+name)
			}
		case err != nil:
			return nil, err
		}
	}
	return missing, nil
}

// osTemplatesListed returns, for each node of the Ready clusters allowed for the template's
// namespace, the volume its OS template stands for there, sorted by cluster and node; and for
// each of those clusters whether it signs in as root@pam.
func (r *LXCTemplateReconciler) osTemplatesListed(ctx context.Context, tmpl *lxcv1.LXCTemplate) ([]lxcv1.ResolvedOSTemplate, map[string]bool, error) {
	clusters := &lxcv1.ProxmoxClusterList{}
	if err := r.List(ctx, clusters); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(clusters.Items, func(a, b lxcv1.ProxmoxCluster) int { return strings.Compare(a.Name, b.Name) })
	var out []lxcv1.ResolvedOSTemplate
	rootLogin := map[string]bool{}
	for i := range clusters.Items {
		c := &clusters.Items[i]
		if !conditions.IsReady(c) {
			continue
		}
		found := ostemplate.ResolvedOn(tmpl.Spec.OSTemplate, c)
		if len(found) == 0 {
			continue
		}
		ok, err := namespaceAllowed(ctx, r.Client, c, tmpl.Namespace)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, found...)
			rootLogin[c.Name] = c.Status.RootLogin
		}
	}
	return out, rootLogin, nil
}

// rootLoginNote says when the template asks for what Proxmox lets only root@pam set, and the
// clusters it can be used on sign in otherwise (status.rootLogin): on those its containers stall
// with RootRequired. When none of them can, the template stalls with that reason itself.
func rootLoginNote(tmpl *lxcv1.LXCTemplate, resolved []lxcv1.ResolvedOSTemplate, clusters map[string]bool) (string, error) {
	fields := rootOnlyOfTemplate(&tmpl.Spec)
	if len(fields) == 0 {
		return "", nil
	}
	var without []string
	for _, r := range resolved {
		if !clusters[r.Cluster] && !slices.Contains(without, r.Cluster) {
			without = append(without, r.Cluster)
		}
	}
	if len(without) == 0 {
		return "", nil
	}
	list := strings.Join(fields, ", ")
	msg := fmt.Sprintf("Proxmox lets only root@pam set %s, and ProxmoxCluster %s signs in with an API token or another user: its containers there stall with RootRequired until the cluster has root@pam password credentials",
		list, strings.Join(without, ", "))
	if len(without) == len(clustersOf(resolved)) {
		return "", outcome.Stall(lxcv1.RootRequiredReason, "%s", msg)
	}
	return "; " + msg, nil
}

func clustersOf(resolved []lxcv1.ResolvedOSTemplate) []string {
	var names []string
	for _, r := range resolved {
		if !slices.Contains(names, r.Cluster) {
			names = append(names, r.Cluster)
		}
	}
	return names
}

// SetupWithManager watches templates, their buckets, the clusters' template lists and the
// containers that use them.
func (r *LXCTemplateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.LXCTemplate{}, builder.WithPredicates(r.Shard.Predicate(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&lxcv1.PackageBucket{}, handler.EnqueueRequestsFromMapFunc(r.templatesForBucket)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.templatesForContent(true)), builder.OnlyMetadata,
			builder.WithPredicates(createdOrDeleted)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.templatesForContent(false)), builder.OnlyMetadata,
			builder.WithPredicates(createdOrDeleted)).
		Watches(&lxcv1.ProxmoxCluster{}, handler.EnqueueRequestsFromMapFunc(r.allTemplates),
			builder.WithPredicates(clusterTemplatesChanged{})).
		Watches(&lxcv1.LXCContainer{}, referencesHandler(func(c *lxcv1.LXCContainer) []types.NamespacedName {
			return []types.NamespacedName{{Namespace: c.Namespace, Name: c.Spec.TemplateRef.Name}}
		})).
		Watches(&lxcv1.LXCContainer{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			c := o.(*lxcv1.LXCContainer)
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.TemplateRef.Name}}}
		}), builder.WithPredicates(bakeProgress{})).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("lxctemplate").
		Complete(r)
}

// bakeProgress passes the container changes a template's bakes follow: a container placed on
// a node, a bake made a Proxmox template, a clone task ended.
type bakeProgress struct {
	predicate.Funcs
}

func (bakeProgress) Create(event.CreateEvent) bool { return false }

func (bakeProgress) Delete(event.DeleteEvent) bool { return false }

func (bakeProgress) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*lxcv1.LXCContainer)
	n, ok2 := e.ObjectNew.(*lxcv1.LXCContainer)
	if !ok1 || !ok2 {
		return false
	}
	return o.Status.Node != n.Status.Node || o.Status.Baked != n.Status.Baked || o.Status.VMID != n.Status.VMID ||
		(o.Status.ClonedFrom != 0 && o.Status.Operation != n.Status.Operation)
}

// createdOrDeleted passes the events that change whether a referenced object exists.
var createdOrDeleted = predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}

func (r *LXCTemplateReconciler) templatesForContent(secret bool) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &lxcv1.LXCTemplateList{}
		if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{contentRefIndex: contentRef(secret, obj.GetName())}); err != nil {
			return nil
		}
		return requestsFor(list.Items)
	}
}

func (r *LXCTemplateReconciler) templatesForBucket(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{templateBucketIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates by PackageBucket", "bucket", obj.GetName())
		return nil
	}
	return requestsFor(list.Items)
}

func (r *LXCTemplateReconciler) allTemplates(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates")
		return nil
	}
	return requestsFor(list.Items)
}

func requestsFor[T any, PT interface {
	*T
	client.Object
}](items []T) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for i := range items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(PT(&items[i]))})
	}
	return reqs
}

// clusterTemplatesChanged passes cluster events that change what templates can use: a new or
// deleted cluster, its readiness, its login, its template list or its allowed namespaces.
type clusterTemplatesChanged struct {
	predicate.Funcs
}

func (clusterTemplatesChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*lxcv1.ProxmoxCluster)
	n, ok2 := e.ObjectNew.(*lxcv1.ProxmoxCluster)
	if !ok1 || !ok2 {
		return true
	}
	return o.Generation != n.Generation ||
		conditions.IsReady(o) != conditions.IsReady(n) || o.Status.RootLogin != n.Status.RootLogin ||
		!slices.Equal(o.Status.Templates, n.Status.Templates)
}
