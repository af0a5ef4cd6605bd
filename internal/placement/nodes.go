package placement

import (
	"fmt"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/ostemplate"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// PickNode returns the requested node if it can take the container, else the online node with
// the most free memory among those that can (ties broken by name, so placement is stable). A
// node in HA maintenance (maintenance) takes no new guest, as the HA manager gives it none;
// while it is the only kind of node left, the container waits for maintenance to end.
// refusals says why a node cannot.
func PickNode(nodes []proxmox.Node, requested string, maintenance []string, refusals map[string]string) (string, error) {
	if requested != "" {
		return pickRequested(nodes, requested, maintenance, refusals)
	}
	best := -1
	var online, resting []string
	for i, n := range nodes {
		if !n.Online() {
			continue
		}
		online = append(online, n.Name)
		if slices.Contains(maintenance, n.Name) {
			resting = append(resting, n.Name)
			continue
		}
		if refusals[n.Name] != "" {
			continue
		}
		if best < 0 || n.FreeMemory > nodes[best].FreeMemory ||
			(n.FreeMemory == nodes[best].FreeMemory && n.Name < nodes[best].Name) {
			best = i
		}
	}
	switch {
	case best >= 0:
		return nodes[best].Name, nil
	case len(online) == 0:
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NoNodeAvailableReason, "no node of the cluster is online")
	}
	var why []string
	for _, n := range nodes {
		if r := refusals[n.Name]; r != "" && !slices.Contains(resting, n.Name) {
			why = append(why, n.Name+": "+r)
		}
	}
	if len(resting) > 0 {
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NoNodeAvailableReason, "no node can take the container until maintenance ends: %s",
			strings.Join(append([]string{strings.Join(resting, ", ") + " in maintenance mode"}, why...), "; "))
	}
	return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "no node can take the container: %s", strings.Join(why, "; "))
}

// pickRequested checks that the node spec.node names can take the container: a node that is
// offline or in maintenance is waited for, one that lacks what the container needs stalls.
func pickRequested(nodes []proxmox.Node, requested string, maintenance []string, refusals map[string]string) (string, error) {
	i := slices.IndexFunc(nodes, func(n proxmox.Node) bool { return n.Name == requested })
	switch {
	case i < 0:
		return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "node %s is not part of the cluster", requested)
	case !nodes[i].Online():
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NoNodeAvailableReason, "node %s is %s", requested, nodes[i].Status)
	case slices.Contains(maintenance, requested):
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NodeMaintenanceReason,
			"node %s is in maintenance mode; the container is created there once the node leaves it", requested)
	case refusals[requested] != "":
		return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "node %s cannot take the container: %s", requested, refusals[requested])
	}
	return requested, nil
}

// StorageRefusal says why a node's storage cannot hold content of the given kind and size.
func StorageRefusal(storages []proxmox.Storage, name, content string, size uint64) string {
	i := slices.IndexFunc(storages, func(st proxmox.Storage) bool { return st.Name == name })
	switch {
	case i < 0:
		return fmt.Sprintf("no storage %s", name)
	case !storages[i].Active || !storages[i].Enabled:
		return fmt.Sprintf("storage %s is not active", name)
	case !storages[i].HasContent(content):
		return fmt.Sprintf("storage %s does not hold %s content", name, content)
	case size > 0 && storages[i].Total > 0 && storages[i].Avail < size:
		return fmt.Sprintf("storage %s has %d GiB free, the container needs %d GiB", name, storages[i].Avail>>30, size>>30)
	}
	return ""
}

// OSTemplateRefusal says why node cannot create a container from osTemplate: the storage of a
// volid is missing there, or the cluster's discovery lists OS templates on the node but none
// that osTemplate stands for. A short form is only ever found through that list.
// An OCI image is pulled onto the node when the container is created there: any active storage
// for container templates will do.
func OSTemplateRefusal(osTemplate string, templates []lxcv1.ClusterTemplate, node string, storages []proxmox.Storage) string {
	if ostemplate.IsOCI(osTemplate) {
		if !slices.ContainsFunc(storages, func(st proxmox.Storage) bool { return st.Active && st.Enabled && st.HasContent("vztmpl") }) {
			return fmt.Sprintf("no active storage for container templates to pull OCI image %s to", ostemplate.OCIReference(osTemplate))
		}
		return ""
	}
	volid, found := ostemplate.Resolve(osTemplate, templates, node)
	missing := fmt.Sprintf("no OS template %s", ostemplate.Wanted(osTemplate))
	if !found {
		if ostemplate.IsShort(osTemplate) {
			return missing
		}
		volid = osTemplate
	}
	storage, _, _ := strings.Cut(volid, ":")
	if why := StorageRefusal(storages, storage, "vztmpl", 0); why != "" {
		return why + " (for the OS template)"
	}
	if !found && slices.ContainsFunc(templates, func(t lxcv1.ClusterTemplate) bool { return t.Node == node }) {
		return missing
	}
	return ""
}
