package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// place is a cluster and node a template's containers are placed on.
type place struct{ cluster, node string }

// reconcileBakes keeps one bake of the template as it is now on each cluster and node its
// containers are placed on, and records them in status.bakes. A bake is an LXCContainer owned
// by the template and labelled as its bake; the container pipeline provisions it and makes it a
// Proxmox template. An outdated bake is deleted once no container is being cloned from it;
// when baking is turned off, every bake is.
func (r *LXCTemplateReconciler) reconcileBakes(ctx context.Context, tmpl *lxcv1.LXCTemplate, containers []lxcv1.LXCContainer) error {
	hash := templateHash(tmpl)
	tmpl.Status.TemplateHash = hash
	var bakes, users []*lxcv1.LXCContainer
	for i := range containers {
		c := &containers[i]
		if c.Labels[lxcv1.BakeOfLabel] == tmpl.Name {
			bakes = append(bakes, c)
		} else {
			users = append(users, c)
		}
	}
	enabled := bakeEnabled(tmpl)
	var wanted []place
	if enabled {
		for _, c := range users {
			node := c.Status.Node
			if node == "" {
				node = c.Spec.Node
			}
			p := place{c.Spec.ClusterRef.Name, node}
			if node != "" && !slices.Contains(wanted, p) {
				wanted = append(wanted, p)
			}
		}
	}
	cloning := map[int32]bool{}
	for _, c := range users {
		if _, ok := operationTask(c.Status.Operation, "vzclone"); ok {
			cloning[c.Status.ClonedFrom] = true
		}
	}
	status := []lxcv1.BakeStatus{}
	for _, b := range bakes {
		p := place{b.Spec.ClusterRef.Name, b.Status.Node}
		if p.node == "" {
			p.node = b.Spec.Node
		}
		current := enabled && b.Labels[lxcv1.BakeHashLabel] == hash && slices.Contains(wanted, p)
		if !current && !cloning[b.Status.VMID] {
			if b.DeletionTimestamp.IsZero() {
				if err := r.Delete(ctx, b.DeepCopy()); client.IgnoreNotFound(err) != nil {
					return err
				}
			}
			continue
		}
		if current {
			wanted = slices.DeleteFunc(wanted, func(w place) bool { return w == p })
			if err := r.followTemplateShard(ctx, tmpl, b); err != nil {
				return err
			}
		}
		status = append(status, lxcv1.BakeStatus{Cluster: p.cluster, Node: p.node, VMID: b.Status.VMID,
			TemplateHash: b.Labels[lxcv1.BakeHashLabel], Container: b.Name, Ready: b.Status.Baked})
	}
	for _, p := range wanted {
		b, err := r.createBake(ctx, tmpl, hash, p)
		if err != nil {
			return err
		}
		status = append(status, lxcv1.BakeStatus{Cluster: p.cluster, Node: p.node, TemplateHash: hash, Container: b.Name})
	}
	slices.SortFunc(status, func(a, b lxcv1.BakeStatus) int {
		return strings.Compare(a.Cluster+"/"+a.Node+"/"+a.Container, b.Cluster+"/"+b.Node+"/"+b.Container)
	})
	if len(status) == 0 {
		status = nil
	}
	tmpl.Status.Bakes = status
	return nil
}

// createBake makes the LXCContainer of a new bake.
func (r *LXCTemplateReconciler) createBake(ctx context.Context, tmpl *lxcv1.LXCTemplate, hash string, p place) (*lxcv1.LXCContainer, error) {
	sum := sha256.Sum256([]byte(p.cluster + "/" + p.node + "/" + hash))
	suffix := "-bake-" + hex.EncodeToString(sum[:])[:10]
	base := tmpl.Name
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-.")
	}
	b := &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: tmpl.Namespace, Name: base + suffix,
			Labels: map[string]string{lxcv1.BakeOfLabel: tmpl.Name, lxcv1.BakeHashLabel: hash},
		},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef:  lxcv1.ClusterReference{Name: p.cluster},
			TemplateRef: lxcv1.LocalObjectReference{Name: tmpl.Name},
			Node:        p.node,
			Hostname:    "bake-" + hash[:10],
		},
	}
	if key, ok := tmpl.Labels[lxcv1.ShardKeyLabel]; ok {
		b.Labels[lxcv1.ShardKeyLabel] = key
	}
	if err := controllerutil.SetControllerReference(tmpl, b, r.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the bake of template %s on %s/%s: %w", tmpl.Name, p.cluster, p.node, err)
	}
	return b, nil
}

// followTemplateShard moves a bake to its template's shard: the bake is made and deleted by
// the shard of its template, so it is provisioned there too (docs/sharding.md).
func (r *LXCTemplateReconciler) followTemplateShard(ctx context.Context, tmpl *lxcv1.LXCTemplate, b *lxcv1.LXCContainer) error {
	want, wanted := tmpl.Labels[lxcv1.ShardKeyLabel]
	have, has := b.Labels[lxcv1.ShardKeyLabel]
	if want == have && wanted == has {
		return nil
	}
	moved := b.DeepCopy()
	if wanted {
		moved.Labels[lxcv1.ShardKeyLabel] = want
	} else {
		delete(moved.Labels, lxcv1.ShardKeyLabel)
	}
	if err := r.Patch(ctx, moved, client.MergeFrom(b)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("moving bake %s to the shard of template %s: %w", b.Name, tmpl.Name, err)
	}
	return nil
}
