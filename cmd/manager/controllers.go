package main

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/shard"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// controllerOptions tune the container pipeline.
type controllerOptions struct {
	namespace string
	// credentialsNamespaces are namespaces besides namespace for ProxmoxCluster Secrets.
	credentialsNamespaces []string
	workers               int
	resync                time.Duration
	fullCheck             time.Duration
	taskPoll              time.Duration
	guestListAge          time.Duration
	sshDialRetries        int
	// shard picks the objects this manager reconciles.
	shard shard.Selector
}

// setupControllers registers every reconciler with the manager.
func setupControllers(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
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

		Namespace:             opts.namespace,
		CredentialsNamespaces: opts.credentialsNamespaces,
	}
	if err := (&controller.ProxmoxClusterReconciler{
		Client:    mgr.GetClient(),
		Connector: connector,
		Recorder:  mgr.GetEventRecorder("proxmoxcluster-controller"),
		Shard:     opts.shard,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("ProxmoxCluster controller: %w", err)
	}
	if err := (&controller.PackageBucketReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("packagebucket-controller"),
		Shard:    opts.shard,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("PackageBucket controller: %w", err)
	}
	if err := (&controller.LXCTemplateReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lxctemplate-controller"),
		Shard:    opts.shard,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCTemplate controller: %w", err)
	}
	metricsCtl, err := controller.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("controller metrics: %w", err)
	}
	metricsCtl.CountFrom(opts.shard.Reader(mgr.GetClient()))
	if err := (&controller.LXCContainerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Connector: connector,
		// Reconciles must not block: a container that does not answer SSH yet is polled again
		// by a requeue, not by a long dial loop.
		SSH: &ssh.Dialer{
			Retry:   ssh.Backoff{Attempts: opts.sshDialRetries, Initial: time.Second, Factor: 2},
			Observe: metricsCtl.ObserveSSH,
		},
		Key:                     &controller.ControllerKey{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: opts.namespace},
		Guests:                  &controller.GuestCache{MaxAge: opts.guestListAge},
		Recorder:                mgr.GetEventRecorder("lxccontainer-controller"),
		Metrics:                 metricsCtl,
		Resync:                  opts.resync,
		FullCheck:               opts.fullCheck,
		TaskPoll:                opts.taskPoll,
		MaxConcurrentReconciles: opts.workers,
		Shard:                   opts.shard,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCContainer controller: %w", err)
	}
	return setupBackups(ctx, mgr, connector, opts.resync, opts.shard)
}
