package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// rootPasswordKey is the key of the generated root password Secret.
const rootPasswordKey = "password"

// rootPasswordLength is the length of generated root passwords.
const rootPasswordLength = 16

// ownerMarker is the description line that ties a Proxmox container to its LXCContainer.
func ownerMarker(obj *lxcv1.LXCContainer) string {
	return fmt.Sprintf("%s %s/%s uid=%s", lxcv1.OwnerMarkerPrefix, obj.Namespace, obj.Name, obj.UID)
}

// ownedBy reports whether a Proxmox description carries obj's marker line.
func ownedBy(description string, obj *lxcv1.LXCContainer) bool {
	marker := ownerMarker(obj)
	for _, line := range strings.Split(description, "\n") {
		if strings.TrimSpace(line) == marker {
			return true
		}
	}
	return false
}

// reconcileCreate makes sure the Proxmox container exists and is ours: it places and numbers a
// new container, creates it, polls the create task, and adopts a container that carries our
// marker after a crash. A VMID held by a container that is not ours is never touched.
func (r *LXCContainerReconciler) reconcileCreate(ctx context.Context, s *containerScope) (string, error) {
	st := &s.obj.Status
	if upid, ok := operationTask(st.Operation, "vzcreate"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.CreatingReason, "creating CT %d on %s", st.VMID, st.Node)
		if !done {
			return "", err
		}
		if err != nil {
			r.Recorder.Eventf(s.obj, nil, corev1.EventTypeWarning, lxcv1.TaskFailedReason, "Create", "%v", err)
			// A failed create leaves nothing behind in Proxmox; it is tried again, with a
			// VMID allocated afresh, on the back-off schedule.
			if s.obj.Spec.VMID == nil {
				st.VMID = 0
			}
			return "", Failed(lxcv1.TaskFailedReason, fmt.Errorf("creating the container failed: %w", err))
		}
	}

	if upid, ok := operationTask(st.Operation, "vzdestroy"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.RecreatingReason, "destroying CT %d to create it again", st.VMID)
		if !done {
			return "", err
		}
		if err := r.recreated(s, err); err != nil {
			return "", err
		}
	}

	if st.VMID != 0 && r.knownGuest(ctx, s) && st.AppliedConfigHash == s.desired.configHash() {
		// Nothing in the spec changed since it was applied: what cannot change in place has not.
		return fmt.Sprintf("CT %d exists on node %s", st.VMID, st.Node), nil
	}

	if st.VMID == 0 {
		before := s.obj.DeepCopy()
		if err := r.place(ctx, s); err != nil {
			return "", err
		}
		// Record the VMID and node before asking Proxmox, so a crash between the two finds
		// the container by its marker instead of creating a second one. The write is
		// conditional on the version read: a reconcile working from a stale copy of the object
		// (one that has not seen an earlier placement yet) fails here instead of creating a
		// second container.
		if err := r.Status().Patch(ctx, s.obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			if s.obj.Spec.VMID == nil {
				r.vmids.release(s.cluster.Name, int(st.VMID))
			}
			return "", fmt.Errorf("recording the placement of CT %d: %w", st.VMID, err)
		}
	}

	cfg, err := s.px.ContainerConfig(ctx, st.Node, int(st.VMID))
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		return "", r.create(ctx, s)
	case err != nil:
		return "", err
	}
	if cfg.Lock == "create" {
		// Until its create task ends a container shows no description, so whose it is cannot
		// be told yet.
		return "", Wait(r.taskPoll(), lxcv1.CreatingReason, "CT %d on %s is still being created", st.VMID, st.Node)
	}
	s.config = &cfg
	if !ownedBy(cfg.Description, s.obj) && adoptable(cfg.Description, s.obj) {
		if err := r.adopt(ctx, s, &cfg); err != nil {
			return "", err
		}
	}
	if !ownedBy(cfg.Description, s.obj) {
		ctrl.LoggerFrom(ctx).Info("VMID held by a container without this object's marker", "vmid", st.VMID, "node", st.Node,
			"descriptionLines", strings.Count(cfg.Description, "\n")+1)
		msg := fmt.Sprintf("VMID %d on node %s is held by a container this LXCContainer does not own", st.VMID, st.Node)
		if s.obj.Spec.VMID != nil && s.obj.Annotations[lxcv1.AdoptAnnotation] != "true" && adoptable(cfg.Description, adoptingCopy(s.obj)) {
			msg += fmt.Sprintf("; to take it over (a restore, or a container kept by deletionPolicy Retain), annotate this LXCContainer with %s=true", lxcv1.AdoptAnnotation)
		}
		return "", r.vmidTaken(s, msg)
	}
	if err := r.reconcileRecreate(ctx, s, &cfg); err != nil {
		return "", err
	}
	if !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) && st.Operation == "" &&
		conditions.GetReason(s.obj, lxcv1.ContainerCreatedCondition) != lxcv1.CreatingReason &&
		conditions.GetReason(s.obj, lxcv1.ContainerCreatedCondition) != lxcv1.RecreatingReason {
		r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, lxcv1.AdoptedReason, "Adopt",
			"Adopted CT %d on node %s, which carries this LXCContainer's marker", st.VMID, st.Node)
	}
	return fmt.Sprintf("CT %d exists on node %s", st.VMID, st.Node), nil
}

// adoptable says whether obj asks to adopt the container at its spec.vmid (the adopt
// annotation) and the container's description allows it: no owner marker at all, or the
// marker of an LXCContainer of the same namespace and name — an earlier incarnation of this
// object, since two objects of one name cannot exist at once.
func adoptable(description string, obj *lxcv1.LXCContainer) bool {
	if obj.Annotations[lxcv1.AdoptAnnotation] != "true" || obj.Spec.VMID == nil {
		return false
	}
	same := fmt.Sprintf("%s %s/%s uid=", lxcv1.OwnerMarkerPrefix, obj.Namespace, obj.Name)
	for _, line := range strings.Split(description, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, lxcv1.OwnerMarkerPrefix) && !strings.HasPrefix(line, same) {
			return false
		}
	}
	return true
}

// adoptingCopy is obj as it would be with the adopt annotation.
func adoptingCopy(obj *lxcv1.LXCContainer) *lxcv1.LXCContainer {
	c := obj.DeepCopy()
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[lxcv1.AdoptAnnotation] = "true"
	return c
}

// adopt writes obj's marker into the container's description (replacing an earlier marker of
// the same object) and its tag, with the digest read, so a concurrent edit is not overwritten.
func (r *LXCContainerReconciler) adopt(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig) error {
	st := &s.obj.Status
	lines := []string{ownerMarker(s.obj)}
	for _, line := range strings.Split(cfg.Description, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), lxcv1.OwnerMarkerPrefix) && strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	description := strings.Join(lines, "\n")
	tags := cfg.Tags
	if !slices.Contains(tags, lxcv1.ProxmoxTag) {
		tags = append(slices.Clone(tags), lxcv1.ProxmoxTag)
	}
	if err := s.px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), proxmox.ConfigUpdate{Description: &description, Tags: tags, Digest: cfg.Digest}); err != nil {
		return fmt.Errorf("writing this LXCContainer's marker into CT %d: %w", st.VMID, err)
	}
	cfg.Description, cfg.Tags = description, tags
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, lxcv1.AdoptedReason, "Adopt",
		"Adopted CT %d on node %s as the adopt annotation asks; its marker now names uid %s", st.VMID, st.Node, s.obj.UID)
	r.forgetGuests(s)
	return nil
}

// knownGuest answers, from the cluster-wide resource list, whether a container that was already
// created still exists with our tag and a settled state; it saves requests per container.
func (r *LXCContainerReconciler) knownGuest(ctx context.Context, s *containerScope) bool {
	if r.Guests == nil || !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) || s.obj.Status.Operation != "" {
		return false
	}
	g, ok, err := r.Guests.Lookup(ctx, s.cluster.Name, s.px, int(s.obj.Status.VMID))
	if err != nil || !ok || g.Node != s.obj.Status.Node || !g.HasTag(lxcv1.ProxmoxTag) || g.Lock != "" ||
		(g.Status != "running" && g.Status != "stopped") {
		return false
	}
	s.guest = &g
	return true
}

// vmidTaken handles a VMID that belongs to someone else: an allocated one is given up and a new
// one taken on the next pass; a VMID the user asked for stalls.
func (r *LXCContainerReconciler) vmidTaken(s *containerScope, msg string) error {
	if s.obj.Spec.VMID == nil && !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) {
		s.obj.Status.VMID = 0
		return Wait(time.Second, lxcv1.CreatingReason, "%s; allocating another", msg)
	}
	return Stall(lxcv1.VMIDConflictReason, "%s", msg)
}

// place picks the node and the VMID of a new container.
func (r *LXCContainerReconciler) place(ctx context.Context, s *containerScope) error {
	nodes, err := s.px.Nodes(ctx)
	if err != nil {
		return err
	}
	if node, ok, err := r.nodeOfVMID(ctx, s); err != nil || ok {
		// A container that already exists at the requested VMID (one to adopt, or one found by
		// its marker after a restore) is where it is.
		if err == nil {
			s.obj.Status.Node, s.obj.Status.VMID = node, *s.obj.Spec.VMID
		}
		return err
	}
	refusals, err := r.placementRefusals(ctx, s, nodes)
	if err != nil {
		return err
	}
	node, err := pickNode(nodes, s.obj.Spec.Node, refusals)
	if err != nil {
		return err
	}
	vmid := 0
	if s.obj.Spec.VMID != nil {
		vmid = int(*s.obj.Spec.VMID)
	} else {
		vmid, err = r.vmids.allocate(ctx, s.cluster.Name, s.px)
		if err != nil {
			return err
		}
	}
	s.obj.Status.Node = node
	s.obj.Status.VMID = int32(vmid)
	return nil
}

// nodeOfVMID finds the node of an existing container at spec.vmid, from the cluster-wide list.
func (r *LXCContainerReconciler) nodeOfVMID(ctx context.Context, s *containerScope) (string, bool, error) {
	if s.obj.Spec.VMID == nil {
		return "", false, nil
	}
	guests, err := s.px.Guests(ctx)
	if err != nil {
		return "", false, err
	}
	for _, g := range guests {
		if g.VMID == int(*s.obj.Spec.VMID) && (s.obj.Spec.Node == "" || g.Node == s.obj.Spec.Node) {
			return g.Node, true, nil
		}
	}
	return "", false, nil
}

// placementRefusals says, for each online node that cannot take the container, why: the
// storage for its root disk is missing, inactive or too full, the OS template is not on the
// node, or the node lacks the memory.
func (r *LXCContainerReconciler) placementRefusals(ctx context.Context, s *containerScope, nodes []proxmox.Node) (map[string]string, error) {
	d := s.desired
	refusals := map[string]string{}
	for _, n := range nodes {
		if !n.Online() {
			continue
		}
		if need := uint64(d.MemoryMiB) << 20; n.MaxMemory > 0 && n.FreeMemory < need {
			refusals[n.Name] = fmt.Sprintf("%d MiB of memory free, the container needs %d MiB", n.FreeMemory>>20, d.MemoryMiB)
			continue
		}
		storages, err := s.px.Storages(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		if why := storageRefusal(storages, d.Storage, "rootdir", uint64(d.DiskGiB)<<30); why != "" {
			refusals[n.Name] = why
			continue
		}
		if why := osTemplateRefusal(d.OSTemplate, s.cluster.Status.Templates, n.Name, storages); why != "" {
			refusals[n.Name] = why
		}
	}
	return refusals, nil
}

// storageRefusal says why a node's storage cannot hold content of the given kind and size.
func storageRefusal(storages []proxmox.Storage, name, content string, size uint64) string {
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

// pickNode returns the requested node if it can take the container, else the online node with
// the most free memory among those that can (ties broken by name, so placement is stable).
// refusals says why a node cannot.
func pickNode(nodes []proxmox.Node, requested string, refusals map[string]string) (string, error) {
	if requested != "" {
		i := slices.IndexFunc(nodes, func(n proxmox.Node) bool { return n.Name == requested })
		if i < 0 {
			return "", Stall(lxcv1.NoNodeAvailableReason, "node %s is not part of the cluster", requested)
		}
		if !nodes[i].Online() {
			return "", Wait(dependencyRetry, lxcv1.NoNodeAvailableReason, "node %s is %s", requested, nodes[i].Status)
		}
		if why := refusals[requested]; why != "" {
			return "", Stall(lxcv1.NoNodeAvailableReason, "node %s cannot take the container: %s", requested, why)
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
		return "", Wait(dependencyRetry, lxcv1.NoNodeAvailableReason, "no node of the cluster is online")
	}
	var why []string
	for _, n := range nodes {
		if r := refusals[n.Name]; r != "" {
			why = append(why, n.Name+": "+r)
		}
	}
	return "", Stall(lxcv1.NoNodeAvailableReason, "no node can take the container: %s", strings.Join(why, "; "))
}

// create starts the create task and records it.
func (r *LXCContainerReconciler) create(ctx context.Context, s *containerScope) error {
	obj, st, d := s.obj, &s.obj.Status, s.desired
	free, err := s.px.VMIDFree(ctx, int(st.VMID))
	if err != nil {
		return err
	}
	if !free {
		// The VMID is used by a guest on another node, or by a VM.
		return r.vmidTaken(s, fmt.Sprintf("VMID %d is in use elsewhere in the cluster", st.VMID))
	}
	if conditions.IsTrue(obj, lxcv1.ContainerCreatedCondition) {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "ContainerVanished", "Create",
			"CT %d is gone from node %s; creating it again", st.VMID, st.Node)
	}
	volid, ok := createOSTemplate(d.OSTemplate, s.cluster, st.Node)
	if !ok {
		return Wait(dependencyRetry, lxcv1.OSTemplateNotFoundReason, "node %s of cluster %s has no OS template %s",
			st.Node, s.cluster.Name, osTemplateWanted(d.OSTemplate))
	}
	forgetProvisioning(obj)
	st.OSTemplate = volid
	password, err := r.rootPassword(ctx, obj)
	if err != nil {
		return err
	}
	s.redactor.Add(password)
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return err
	}
	st.SSHKeyFingerprint = key.Current.fingerprint
	keys := []string{key.Current.authorized}
	for _, k := range obj.Spec.SSHPublicKeys {
		keys = append(keys, string(k))
	}
	swap := d.SwapMiB
	spec := proxmox.CreateSpec{
		VMID:        int(st.VMID),
		OSTemplate:  volid,
		Hostname:    d.Hostname,
		Description: ownerMarker(obj) + "\nManaged by LXC Template Manager from template " + s.template.Namespace + "/" + s.template.Name + ".",
		Tags:        d.Tags,
		Cores:       d.Cores,
		MemoryMiB:   d.MemoryMiB,
		SwapMiB:     &swap,
		Storage:     d.Storage,
		RootFSGiB:   d.DiskGiB,
		Privileged:  !d.Unprivileged,
		Features: proxmox.Features{
			Nesting: d.Features.Nesting, Keyctl: d.Features.Keyctl, Fuse: d.Features.Fuse,
		},
		Nets:          []proxmox.NetConfig{netConfig(d.Network)},
		Nameservers:   d.Network.Nameservers,
		Password:      password,
		SSHPublicKeys: keys,
		OnBoot:        obj.Spec.PowerState != lxcv1.PowerStateStopped,
	}
	upid, err := s.px.CreateContainer(ctx, st.Node, spec)
	switch {
	case errors.Is(err, proxmox.ErrAlreadyExists):
		// Created by someone between our check and our call; the next pass reads its marker.
		return Wait(time.Second, lxcv1.CreatingReason, "CT %d appeared on %s while creating it", st.VMID, st.Node)
	case proxmox.IsOutcomeUnknown(err):
		// The request may have reached Proxmox: look for the marker instead of asking twice.
		return Wait(r.taskPoll(), lxcv1.CreatingReason, "create request for CT %d ended without an answer: %v", st.VMID, err)
	case err != nil:
		return err
	}
	r.vmids.release(s.cluster.Name, int(st.VMID))
	st.Operation = string(upid)
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, lxcv1.CreatingReason, "Create",
		"Creating CT %d on node %s from %s", st.VMID, st.Node, volid)
	return Wait(r.taskPoll(), lxcv1.CreatingReason, "creating CT %d on %s", st.VMID, st.Node)
}

// netConfig turns the merged network into net0.
func netConfig(n lxcv1.Network) proxmox.NetConfig {
	nc := proxmox.NetConfig{Name: "eth0", Bridge: n.Bridge, IP: n.IPv4, Type: "veth"}
	if n.IPv4 != "dhcp" {
		nc.Gateway = n.Gateway
	}
	if n.VLANTag != nil {
		nc.Tag = int(*n.VLANTag)
	}
	return nc
}

// rootPassword returns the root password: from the referenced Secret, or generated once into
// the Secret <name>-root-password owned by the container. Only the reference reaches status.
func (r *LXCContainerReconciler) rootPassword(ctx context.Context, obj *lxcv1.LXCContainer) (string, error) {
	if ref := obj.Spec.RootPasswordSecretRef; ref != nil {
		v, err := resolver{reader: r.APIReader, namespace: obj.Namespace}.key(ctx, true, ref.Name, ref.Key)
		if err != nil {
			return "", err
		}
		obj.Status.RootPasswordSecretRef = ref.DeepCopy()
		return string(v), nil
	}
	name := obj.Name + "-root-password"
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		password, err := generatePassword(rootPasswordLength)
		if err != nil {
			return "", err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: obj.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "lxc-template-manager"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{rootPasswordKey: []byte(password)},
		}
		if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
			return "", err
		}
		if err := r.Create(ctx, secret); err != nil {
			return "", fmt.Errorf("creating Secret %s: %w", name, err)
		}
	case err != nil:
		return "", fmt.Errorf("reading Secret %s: %w", name, err)
	}
	password := string(secret.Data[rootPasswordKey])
	if password == "" {
		return "", Stall(lxcv1.InvalidSpecReason, "Secret %s has no key %s", name, rootPasswordKey)
	}
	obj.Status.RootPasswordSecretRef = &lxcv1.KeySelector{Name: name, Key: rootPasswordKey}
	return password, nil
}

const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func generatePassword(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return string(b), nil
}

// vmidAllocator hands out VMIDs for new containers. Proxmox's nextid does not reserve, so the
// allocator remembers what it handed out until the create call took it, and concurrent workers
// never get the same VMID.
type vmidAllocator struct {
	mu      sync.Mutex
	pending map[string]map[int]time.Time
}

// vmidReservation is how long an allocated VMID stays reserved without a create call.
const vmidReservation = 5 * time.Minute

func (a *vmidAllocator) allocate(ctx context.Context, cluster string, px proxmox.Client) (int, error) {
	// The lock guards the reservations only, never a request: workers of other clusters, and
	// of this one, allocate while one waits for Proxmox.
	id, err := px.NextVMID(ctx)
	if err != nil {
		return 0, err
	}
	for tries := 0; tries < 1000; tries++ {
		if a.reserve(cluster, id) {
			if tries == 0 {
				return id, nil
			}
			free, err := px.VMIDFree(ctx, id)
			if err != nil || free {
				if err != nil {
					a.release(cluster, id)
				}
				return id, err
			}
			a.release(cluster, id)
		}
		id++
	}
	return 0, fmt.Errorf("no free VMID found after %d", id)
}

// reserve takes id for cluster unless another worker holds it.
func (a *vmidAllocator) reserve(cluster string, id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		a.pending = map[string]map[int]time.Time{}
	}
	reserved := a.pending[cluster]
	if reserved == nil {
		reserved = map[int]time.Time{}
		a.pending[cluster] = reserved
	}
	for rid, at := range reserved {
		if time.Since(at) > vmidReservation {
			delete(reserved, rid)
		}
	}
	if _, taken := reserved[id]; taken {
		return false
	}
	reserved[id] = time.Now()
	return true
}

func (a *vmidAllocator) release(cluster string, id int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pending[cluster], id)
}

// forgetProvisioning clears what status knows of a container's inside, before a container is
// created: a new container has a new host key, no config-manager, and has run no scripts.
func forgetProvisioning(obj *lxcv1.LXCContainer) {
	st := &obj.Status
	st.IPAddress, st.SSHHostKey, st.ConfigHash, st.PackagesHash, st.AppliedConfigHash = "", "", "", "", ""
	st.RestartPending, st.RootPasswordVersion, st.AuthorizedKeysHash = nil, "", ""
	st.Scripts, st.Services = nil, nil
	for _, c := range []string{lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		conditions.Delete(obj, c)
	}
}
