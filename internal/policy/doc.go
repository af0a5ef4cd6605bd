// Package policy decides whether a container may have what it asks of a ProxmoxCluster under
// the cluster's spec.policy: nodes, storages, bridges, VLAN tags, privileged containers,
// features, per-container limits and the namespace quota. It evaluates a request built from
// the merged desired state and reads nothing; the controller calls it before any change reaches
// Proxmox, and the admission policy in config/admission applies the same rules to the objects
// as written.
package policy
