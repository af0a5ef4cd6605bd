// Package placement decides where a new container goes and under which number: the node that
// can take it (online, with the storage, the OS template and the memory it needs, or the one
// the spec names) and a VMID no other worker of this manager is handing out at the same time.
// It reads Proxmox and creates nothing.
package placement
