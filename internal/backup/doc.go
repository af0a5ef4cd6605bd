// Package backup keeps the ways back of LXCContainers: LXCSnapshot (a Proxmox snapshot),
// LXCBackup (a vzdump archive), LXCRestore (a rollback to a snapshot, or the container made
// again from an archive) and the backup schedule of a container or its template, with its
// retention. Each action is an object with a status, so its history is in the API; a backup
// outlives its container.
//
// Like the container reconciler, none of these waits on Proxmox: a reconcile starts a task,
// records its UPID in status.operation and polls it on later reconciles.
package backup
