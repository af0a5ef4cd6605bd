package main

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// setupControllers registers every reconciler with the manager.
func setupControllers(ctx context.Context, mgr ctrl.Manager, namespace string) error {
	if err := controller.SetupIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("field indexes: %w", err)
	}
	pxMetrics, err := proxmox.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("proxmox metrics: %w", err)
	}
	connector := &controller.ClusterConnector{
		Secrets: mgr.GetAPIReader(),
		Factory: proxmox.NewFactory(proxmox.WithMetrics(pxMetrics)),
	}
	if err := (&controller.ProxmoxClusterReconciler{
		Client:    mgr.GetClient(),
		Connector: connector,
		Recorder:  mgr.GetEventRecorder("proxmoxcluster-controller"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("ProxmoxCluster controller: %w", err)
	}
	if err := (&controller.PackageBucketReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("packagebucket-controller"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("PackageBucket controller: %w", err)
	}
	if err := (&controller.LXCTemplateReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lxctemplate-controller"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCTemplate controller: %w", err)
	}
	return nil
}
