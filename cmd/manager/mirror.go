package main

import (
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"templatemanager.dev/lxc-template-manager/internal/mirror"
)

// mirrorOptions configure the PostgreSQL status mirror.
type mirrorOptions struct {
	enabled        bool
	resync         time.Duration
	eventRetention time.Duration
	dashboardUser  string
}

// setupMirror adds the status mirror to the manager when --mirror is set. Without it, nothing
// of the mirror runs and no database connection is ever opened.
func setupMirror(mgr ctrl.Manager, opts mirrorOptions) error {
	if !opts.enabled {
		return nil
	}
	dsn := os.Getenv(mirror.DSNEnv)
	if dsn == "" {
		return fmt.Errorf("--mirror needs the database's connection string in %s", mirror.DSNEnv)
	}
	m, err := mirror.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("mirror metrics: %w", err)
	}
	r, err := mirror.New(mgr.GetCache(), mirror.Options{
		DSN:            dsn,
		ResyncInterval: opts.resync,
		EventRetention: opts.eventRetention,
		DashboardUser:  opts.dashboardUser,
		Metrics:        m,
		Log:            ctrl.Log.WithName("mirror"),
	})
	if err != nil {
		return err
	}
	return mgr.Add(r)
}
