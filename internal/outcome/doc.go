// Package outcome decides what the end of a reconcile does to an object: the typed errors a step
// returns (Stall, Wait, Failed), the one policy that turns any error into a reason, a condition,
// an Event type and a requeue (Of), the retry schedule kept in status, the kstatus summary
// (Summarize), and the single status write that announces a change of Ready (Patcher).
//
// Every reconciler of the project ends through this package, so an error means the same thing
// in the container pipeline, in deletion and in the cluster reconciler. It knows nothing of
// Proxmox calls or SSH; it only reads the kind of a Proxmox error to name it.
package outcome
