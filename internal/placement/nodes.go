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
// the most free memory among those that can (ties broken by name, so placement is stable).
// refusals says why a node cannot.
func PickNode(nodes []proxmox.Node, requested string, refusals map[string]string) (string, error) {
	if requested != "" {
		i := slices.IndexFunc(nodes, func(n proxmox.Node) bool { return n.Name == requested })
		if i < 0 {
			return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "node %s is not part of the cluster", requested)
		}
		if !nodes[i].Online() {
			return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NoNodeAvailableReason, "node %s is %s", requested, nodes[i].Status)
		}
		if why := refusals[requested]; why != "" {
			return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "node %s cannot take the container: %s", requested, why)
		}
		return requested, nil
	}
	best := -1
	online := 0
	for i, n := range nodes {
		if !n.Online() {
			continue
		}
		online++
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
	case online == 0:
		return "", outcome.Wait(outcome.DependencyRetry, lxcv1.NoNodeAvailableReason, "no node of the cluster is online")
	}
	var why []string
	for _, n := range nodes {
		if r := refusals[n.Name]; r != "" {
			why = append(why, n.Name+": "+r)
		}
	}
	return "", outcome.Stall(lxcv1.NoNodeAvailableReason, "no node can take the container: %s", strings.Join(why, "; "))
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
func OSTemplateRefusal(osTemplate string, templates []lxcv1.ClusterTemplate, node string, storages []proxmox.Storage) string {
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
