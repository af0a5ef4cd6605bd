// Package mirror keeps a PostgreSQL database in step with the cluster for the web dashboard:
// the tables templates, package_buckets, containers, container_services and container_events,
// and, as views over them, the original dashboard's Prisma schema.
//
// The mirror is a leader-only manager runnable fed from the manager's shared informer cache. It
// never blocks provisioning: informer handlers only note what changed, and one writer goroutine
// turns the notes into batched, resourceVersion-guarded writes, reconnecting with back-off and
// repairing everything with a full resync after an outage.
package mirror

// The mirror reads the Events about LXCContainers from the shared cache.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=get;list;watch
