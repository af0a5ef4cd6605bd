package main

import (
	"fmt"

	"github.com/redis/go-redis/v9"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"templatemanager.dev/lxc-template-manager/internal/progressfeed"
)

// setupProgressFeed adds the live progress feed to the manager when --mirror-redis names a
// Redis. Without it, nothing of the feed runs and no Redis connection is ever opened.
func setupProgressFeed(mgr ctrl.Manager, redisURL string) error {
	if redisURL == "" {
		return nil
	}
	log := ctrl.Log.WithName("progressfeed")
	redis.SetLogger(progressfeed.LibraryLog{Log: log.WithName("go-redis")})
	m, err := progressfeed.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("live progress feed metrics: %w", err)
	}
	f, err := progressfeed.New(mgr.GetCache(), progressfeed.Options{URL: redisURL, Metrics: m, Log: log})
	if err != nil {
		return fmt.Errorf("--mirror-redis: %w", err)
	}
	return mgr.Add(f)
}
