// Package controller holds the four reconcilers (ProxmoxCluster, PackageBucket, LXCTemplate,
// LXCContainer) and their wiring: watches, indexes, RBAC markers, metrics. What a reconciler
// decides with lives in packages of its own: internal/outcome (what an error does: conditions,
// Events, requeue, back-off), internal/desired (the spec merged with its template, buckets,
// ConfigMaps and Secrets), internal/placement (node and VMID), internal/ostemplate, internal/ownedsecret,
// and the Proxmox, SSH, config-manager and discovery packages it drives.
//
// The LXCContainer pipeline is five phases, each in its own file, each taking the value the
// phase before it handed on (container_phases.go):
//
//	container_create.go         Create: place, number, create or adopt the Proxmox container
//	container_start.go          Start: power state, configuration in place, the address
//	container_configmanager.go  Deploy config-manager: the controller's key, root's access, the bundle
//	container_scripts.go        Run scripts: packages, then each script as a detached run
//	container_services.go       Discover services: sockets, units, credentials
//
// A reconcile never waits on Proxmox or a guest: tasks, script runs, config-sync and SSH dials
// are started, recorded in status and polled by later reconciles. docs/architecture.md has
// the whole picture and says where a new phase, field, reason or Proxmox call goes.
package controller
