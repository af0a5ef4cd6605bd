// Command manager runs the LXC Template Manager controllers.
//
//	manager [flags]                   run the controllers
//	manager import-templates DIR      print (or --apply) LXCTemplate and PackageBucket manifests
//	                                  for a template store in the original dashboard's layout
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/mirror"
	"templatemanager.dev/lxc-template-manager/internal/progressfeed"
	"templatemanager.dev/lxc-template-manager/internal/redact"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// defaultNamespace holds the controller's own Secrets (its SSH key pair) when neither
// --namespace nor POD_NAMESPACE says otherwise.
const defaultNamespace = "lxc-template-manager-system"

// leaderElectionID is the lease of the manager that is not sharded; a shard's is derived from
// its selector (shard.Selector.LeaderElectionID).
const leaderElectionID = "lxc-template-manager.lxc.templatemanager.dev"

// fieldManager is the name the manager writes objects under; a shard's has the selector's ID.
const fieldManager = "lxc-template-manager"

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(lxcv1.AddToScheme(scheme))
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "import-templates" {
		os.Exit(importTemplates(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	var (
		metricsAddr    string
		probeAddr      string
		secureMetrics  bool
		enableHTTP2    bool
		leaderElect    bool
		namespace      string
		metricsCertDir string
		copts          controllerOptions
		mopts          mirrorOptions
		redisURL       string
		watchSelector  string
		leaseID        string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to (HTTPS with authentication unless --metrics-secure=false); 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health probes bind to.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, allowing only callers authorised to GET /metrics.")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics server; a self-signed certificate when empty.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Serve metrics over HTTP/2 too (off by default: HTTP/2 rapid-reset and stream-cancellation attacks).")
	flag.BoolVar(&leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&watchSelector, shard.Flag, "",
		"Label selector of the objects this manager reconciles, for running several managers as shards "+
			"(e.g. '"+lxcv1.ShardKeyLabel+"=shard1', and '!"+lxcv1.ShardKeyLabel+"' for the main one); empty: every object. See docs/sharding.md.")
	flag.StringVar(&leaseID, "leader-election-id", "",
		"Name of the leader-election lease; empty: derived from --"+shard.Flag+", so that each shard has a lease of its own.")
	flag.StringVar(&namespace, "namespace", envOr("POD_NAMESPACE", defaultNamespace),
		"Namespace of the controller's own Secrets and of its leader-election lease.")
	flag.IntVar(&copts.workers, "max-concurrent-reconciles", 4, "Number of LXCContainers reconciled at the same time.")
	flag.DurationVar(&copts.resync, "container-resync-interval", controller.DefaultContainerResync,
		"How often a Ready container is checked against Proxmox and its services are discovered again.")
	flag.DurationVar(&copts.fullCheck, "container-full-check-interval", controller.DefaultFullCheck,
		"How often a Ready container's whole Proxmox configuration is read, to find changes the bulk list cannot show.")
	flag.DurationVar(&copts.taskPoll, "task-poll-interval", controller.DefaultTaskPoll,
		"How soon an in-flight Proxmox task or provisioning script is polled again.")
	flag.DurationVar(&copts.guestListAge, "guest-list-max-age", 30*time.Second,
		"How old a cluster's bulk guest list may be before drift checks read it again.")
	flag.IntVar(&copts.sshDialRetries, "ssh-dial-attempts", 2,
		"SSH connection attempts per reconcile; further attempts happen on later reconciles.")
	flag.BoolVar(&mopts.enabled, "mirror", false,
		"Keep the PostgreSQL status mirror in step (leader only); the DSN comes from the environment variable "+mirror.DSNEnv+".")
	flag.DurationVar(&mopts.resync, "mirror-resync-interval", mirror.DefaultResyncInterval,
		"How often the mirror compares every row with the cluster and removes rows of objects that are gone.")
	flag.DurationVar(&mopts.eventRetention, "mirror-event-retention", mirror.DefaultEventRetention,
		"How long the mirror keeps a container's Events after they happened.")
	flag.StringVar(&redisURL, "mirror-redis", "",
		"Redis URL (redis:// or rediss://) to publish containers' live progress to for the web dashboard (leader only); "+
			"empty: the environment variable "+progressfeed.URLEnv+", else off.")
	flag.StringVar(&mopts.dashboardUser, "mirror-dashboard-user", mirror.DefaultDashboardUser,
		"The Proxmox user the web dashboard signs in as: the mirror's node rows belong to it (the dashboard lists the signed-in user's nodes).")
	flag.Func(controller.CredentialsNamespacesFlag,
		"Further namespaces, comma-separated, a ProxmoxCluster may take its credentials and CA Secrets from; "+
			"* allows every namespace. The controller's own namespace is always allowed.",
		func(v string) error {
			for _, ns := range strings.Split(v, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					copts.credentialsNamespaces = append(copts.credentialsNamespaces, ns)
				}
			}
			return nil
		})
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	// Whatever --zap-log-level asks for, client-go's request and response dumps stay off: a
	// Secret's body is its data.
	ctrl.SetLogger(redact.CapVerbosity(zap.New(zap.UseFlagOptions(&opts)), redact.MaxLogVerbosity))
	log := ctrl.Log.WithName("setup")

	sel, err := shard.Parse(watchSelector)
	if err != nil {
		log.Error(err, "Invalid flag")
		return 1
	}
	copts.shard = sel
	if leaseID == "" {
		leaseID = sel.LeaderElectionID(leaderElectionID)
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
		CertDir:       metricsCertDir,
	}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		return 1
	}
	if redisURL == "" {
		// A URL with a password comes from a Secret through the environment, never the command line.
		redisURL = os.Getenv(progressfeed.URLEnv)
	}
	var cacheOpts cache.Options
	if mopts.enabled || redisURL != "" {
		// Both read the Events about containers, and only those.
		cacheOpts.ByObject = mirror.CacheByObject()
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  controller.CacheOptions(cacheOpts),
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: controller.UncachedObjects()},
			FieldOwner: sel.FieldOwner(fieldManager)},
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaseID,
		LeaderElectionNamespace:       namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "Unable to create the manager")
		return 1
	}

	ctx := ctrl.SetupSignalHandler()
	copts.namespace = namespace
	if err := setupControllers(ctx, mgr, copts); err != nil {
		log.Error(err, "Unable to set up the controllers")
		return 1
	}

	if err := setupMirror(mgr, mopts); err != nil {
		log.Error(err, "Unable to set up the status mirror")
		return 1
	}
	if err := setupProgressFeed(mgr, redisURL); err != nil {
		log.Error(err, "Unable to set up the live progress feed")
		return 1
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the ready check")
		return 1
	}

	log.Info("Starting the manager", "namespace", namespace, "leaderElection", leaderElect, "lease", leaseID,
		"watchLabelSelector", sel.String(), "mirror", mopts.enabled,
		"progressFeed", redisURL != "")
	// The signal handler cancels ctx on SIGTERM or SIGINT; the manager then drains its workers.
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped with an error")
		return 1
	}
	return 0
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
