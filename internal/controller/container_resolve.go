package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"templatemanager.dev/lxc-template-manager/internal/backup"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// resolve reads the template, the cluster and the buckets, and merges them into s.desired.
func (r *LXCContainerReconciler) resolve(ctx context.Context, s *containerScope) error {
	obj := s.obj
	tmpl := &lxcv1.LXCTemplate{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.TemplateRef.Name}, tmpl); err != nil {
		if apierrors.IsNotFound(err) {
			return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "LXCTemplate %s not found", obj.Spec.TemplateRef.Name)
		}
		return err
	}
	s.template = tmpl
	if err := checkBackupSchedule(obj, tmpl); err != nil {
		return err
	}
	cluster := &lxcv1.ProxmoxCluster{}
	if err := r.Get(ctx, types.NamespacedName{Name: obj.Spec.ClusterRef.Name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s not found", obj.Spec.ClusterRef.Name)
		}
		return err
	}
	s.cluster = cluster
	allowed, err := namespaceAllowed(ctx, r.Client, cluster, obj.Namespace)
	if err != nil {
		return err
	}
	if !allowed {
		return outcome.Stall(lxcv1.NamespaceNotAllowedReason, "ProxmoxCluster %s does not allow namespace %s", cluster.Name, obj.Namespace)
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
		return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "%s", missingBuckets(missing))
	}
	s.desired, err = desired.Build(ctx, desired.Resolver{Reader: r.APIReader, Namespace: obj.Namespace, Redactor: s.redactor}, obj, tmpl, buckets)
	if err != nil {
		return err
	}
	if err := r.checkPolicy(ctx, s); err != nil {
		return err
	}
	px, err := r.Connector.Connect(ctx, cluster)
	if err != nil {
		if !outcome.IsStallOrWait(err) {
			// Reading the cluster's Secrets failed (an API server restarting, say): nothing is
			// wrong with the cluster, and no change of its readiness would wake the container
			// from a dependency's wait, so it is retried with the back-off of a failure.
			return fmt.Errorf("ProxmoxCluster %s: %w", cluster.Name, err)
		}
		// A broken cluster is the cluster's condition to report; the container waits for it,
		// and the cluster's readiness changing wakes it.
		return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s: %v", cluster.Name, err)
	}
	s.px = px
	return nil
}

// checkBackupSchedule stalls a container whose backup schedule (its own or its template's) is
// no cron expression; the admission rules cannot parse cron.
func checkBackupSchedule(obj *lxcv1.LXCContainer, tmpl *lxcv1.LXCTemplate) error {
	b := backup.Effective(obj, tmpl)
	if b == nil {
		return nil
	}
	if _, err := backup.ParseSchedule(b.Schedule); err != nil {
		field := "spec.backup.schedule"
		if obj.Spec.Backup == nil {
			field = "LXCTemplate " + tmpl.Name + " spec.backup.schedule"
		}
		return outcome.Stall(lxcv1.InvalidSpecReason, "%s: %v", field, err)
	}
	return nil
}
