// Package ostemplate resolves what an LXCTemplate's spec.osTemplate stands for on a node: a
// volume id as it is, or a short form (debian-12-standard) as the newest version of that template
// among the OS templates a ProxmoxCluster discovered. It reads status only and calls nothing.
package ostemplate

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// IsShort reports whether osTemplate is the short form (debian-12-standard) rather
// than a volume id, which always holds a colon.
func IsShort(osTemplate string) bool { return !strings.Contains(osTemplate, ":") }

// Wanted says what a short form or volid is looked for as, for messages.
func Wanted(osTemplate string) string {
	if IsOCI(osTemplate) {
		return fmt.Sprintf("%s (an OCI image, pulled to a storage for container templates)", osTemplate)
	}
	if IsShort(osTemplate) {
		return fmt.Sprintf("%s (a volume <storage>:vztmpl/%s_<version>_<arch>.tar.*)", osTemplate, osTemplate)
	}
	return osTemplate
}

// Resolve returns the volume id osTemplate stands for on node among the cluster's
// discovered templates: a volid as it is, if the node has it; a short form as the newest
// version of that template on the node's storages (ties broken by volid, so the choice is
// stable). ok is false when the node has nothing that matches.
func Resolve(osTemplate string, templates []lxcv1.ClusterTemplate, node string) (volid string, ok bool) {
	var best *lxcv1.ClusterTemplate
	bestVersion := ""
	for i := range templates {
		t := &templates[i]
		if t.Node != node {
			continue
		}
		if !IsShort(osTemplate) {
			if t.VolID == osTemplate {
				return t.VolID, true
			}
			continue
		}
		short, version, match := splitTemplateFile(t.VolID)
		if !match || short != osTemplate {
			continue
		}
		if best == nil || cmp.Or(compareVersions(version, bestVersion), strings.Compare(best.VolID, t.VolID)) > 0 {
			best, bestVersion = t, version
		}
	}
	if best == nil {
		return "", false
	}
	return best.VolID, true
}

// ForCreate is the volume a container on node is created from. A volid is passed to
// Proxmox as it is, which knows best whether the node has it (the cluster's list may be a sync
// behind); a short form is resolved against the cluster's discovered templates.
func ForCreate(osTemplate string, cluster *lxcv1.ProxmoxCluster, node string) (string, bool) {
	if !IsShort(osTemplate) {
		return osTemplate, true
	}
	return Resolve(osTemplate, cluster.Status.Templates, node)
}

// Satisfies reports whether a container created from volid meets osTemplate: a volid asks for
// exactly that volume; a short form is met by any version of that template, on any storage, so
// that a newer tarball on the node never makes an existing container out of date.
func Satisfies(volid, osTemplate string) bool {
	if !IsShort(osTemplate) {
		return volid == osTemplate
	}
	short, _, ok := splitTemplateFile(volid)
	return ok && short == osTemplate
}

// splitTemplateFile splits a volid like local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
// into its short form (debian-12-standard) and version (12.7-1), as Proxmox names the
// templates of its appliance index.
func splitTemplateFile(volid string) (short, version string, ok bool) {
	_, file, found := strings.Cut(volid, ":vztmpl/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(file, "_")
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// compareVersions orders versions such as 12.7-1 and 12.10-1 the way people read them: runs of
// digits compare as numbers, everything else byte by byte.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, rb := leadingRun(a), leadingRun(b)
		da, db := unicode.IsDigit(rune(a[0])), unicode.IsDigit(rune(b[0]))
		var c int
		switch {
		case da && db:
			na, nb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			c = cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb))
		case da != db:
			// A number sorts after a separator: 12.7.1 is newer than 12.7-1.
			if da {
				c = 1
			} else {
				c = -1
			}
		default:
			c = strings.Compare(ra, rb)
		}
		if c != 0 {
			return c
		}
		a, b = a[len(ra):], b[len(rb):]
	}
	return cmp.Compare(len(a), len(b))
}

// leadingRun is the longest prefix of s made only of digits, or only of non-digits.
func leadingRun(s string) string {
	digit := unicode.IsDigit(rune(s[0]))
	i := 1
	for i < len(s) && unicode.IsDigit(rune(s[i])) == digit {
		i++
	}
	return s[:i]
}

// ResolvedOn lists what osTemplate stands for on each node of a cluster, by node name.
// An OCI image is pulled where it is needed, so it stands for itself on every node that has
// a storage for container templates.
func ResolvedOn(osTemplate string, cluster *lxcv1.ProxmoxCluster) []lxcv1.ResolvedOSTemplate {
	if IsOCI(osTemplate) {
		return ociNodes(osTemplate, cluster)
	}
	var nodes []string
	for _, t := range cluster.Status.Templates {
		if !slices.Contains(nodes, t.Node) {
			nodes = append(nodes, t.Node)
		}
	}
	slices.Sort(nodes)
	var out []lxcv1.ResolvedOSTemplate
	for _, n := range nodes {
		if volid, ok := Resolve(osTemplate, cluster.Status.Templates, n); ok {
			out = append(out, lxcv1.ResolvedOSTemplate{Cluster: cluster.Name, Node: n, VolID: volid})
		}
	}
	return out
}

// OCIPrefix starts an osTemplate that names an OCI image (oci://REGISTRY/IMAGE:TAG).
const OCIPrefix = "oci://"

// IsOCI reports whether osTemplate names an OCI image rather than a volume.
func IsOCI(osTemplate string) bool { return strings.HasPrefix(osTemplate, OCIPrefix) }

// OCIReference is the image reference of an oci:// osTemplate, as Proxmox's oci-registry-pull
// takes it (REGISTRY/IMAGE:TAG).
func OCIReference(osTemplate string) string { return strings.TrimPrefix(osTemplate, OCIPrefix) }

// ociNodes lists, for an oci:// osTemplate, the nodes of a cluster with an active storage for
// container templates: any of them can pull the image when a container is created there.
func ociNodes(osTemplate string, cluster *lxcv1.ProxmoxCluster) []lxcv1.ResolvedOSTemplate {
	var out []lxcv1.ResolvedOSTemplate
	for _, st := range cluster.Status.Storages {
		if !st.Active || !slices.Contains(strings.Split(st.Content, ","), "vztmpl") ||
			slices.ContainsFunc(out, func(r lxcv1.ResolvedOSTemplate) bool { return r.Node == st.Node }) {
			continue
		}
		out = append(out, lxcv1.ResolvedOSTemplate{Cluster: cluster.Name, Node: st.Node, VolID: osTemplate})
	}
	slices.SortFunc(out, func(a, b lxcv1.ResolvedOSTemplate) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// OCIArchiveName is the file name (without Proxmox's ".tar") an image at a digest is pulled
// to: IMAGE_TAG-sha256_HEX12, with every character but [A-Za-z0-9_.-] as _, as Proxmox
// normalises a content file name. A new digest of the same tag gets a new file, so a pull never
// meets Proxmox's refusal to overwrite one.
func OCIArchiveName(reference, digest string) string {
	last := reference[strings.LastIndex(reference, "/")+1:]
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return unsafeFileChars.ReplaceAllString(last+"-sha256_"+hex, "_")
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
