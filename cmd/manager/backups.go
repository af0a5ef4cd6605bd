package main

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"templatemanager.dev/lxc-template-manager/internal/backup"
	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// setupBackups registers the reconcilers of snapshots, backups, restores and backup schedules.
func setupBackups(ctx context.Context, mgr ctrl.Manager, connector *controller.ClusterConnector, resync time.Duration, sel shard.Selector) error {
	if err := backup.SetupIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("backup field indexes: %w", err)
	}
	m, err := backup.NewMetrics(metrics.Registry, mgr.GetClient())
	if err != nil {
		return fmt.Errorf("backup metrics: %w", err)
	}
	clusters := &backup.Clusters{Client: mgr.GetClient(), Connector: connector, Allowed: controller.NamespacePolicy(mgr.GetClient()), Shard: sel}
	if err := (&backup.SnapshotReconciler{Clusters: clusters, Recorder: mgr.GetEventRecorder("lxcsnapshot-controller"), Resync: resync}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCSnapshot controller: %w", err)
	}
	if err := (&backup.BackupReconciler{Clusters: clusters, Recorder: mgr.GetEventRecorder("lxcbackup-controller"), Metrics: m, Resync: resync}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCBackup controller: %w", err)
	}
	if err := (&backup.RestoreReconciler{Clusters: clusters, Recorder: mgr.GetEventRecorder("lxcrestore-controller")}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LXCRestore controller: %w", err)
	}
	if err := (&backup.ScheduleReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("backupschedule-controller"), Shard: sel}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("backup schedule controller: %w", err)
	}
	return nil
}
