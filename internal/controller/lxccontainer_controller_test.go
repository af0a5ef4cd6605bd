package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// These tests drive the container pipeline against pvesim's fake backend, which has no real
// container behind it: they cover the Proxmox side (create, adopt, conflicts, power, resources,
// delete). The SSH phases' state machines are tested on the fake backend's guest stand-ins in
// phase_*_test.go, and shown on real LXC containers in test/e2e.

// pipelineFixture is a simulator, its cluster, a namespace and a template in it.
type pipelineFixture struct {
	sim      *pvesimtest.Simulator
	px       proxmox.Client
	cluster  *lxcv1.ProxmoxCluster
	ns       string
	template *lxcv1.LXCTemplate
}

func newPipelineFixture(t testing.TB, name string, opts ...pvesimtest.Option) *pipelineFixture {
	t.Helper()
	sim := pvesimtest.Start(t, append([]pvesimtest.Option{pvesimtest.WithNodes("pve1", "pve2")}, opts...)...)
	cluster := clusterFor(t, sim, name)
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	px, err := proxmox.New(proxmox.Settings{
		Endpoint: sim.URL,
		Auth:     proxmox.Auth{TokenID: sim.TokenID, TokenSecret: sim.Secret},
		TLS:      proxmox.TLSSettings{CAPEM: sim.CAPEM},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &pipelineFixture{sim: sim, px: px, cluster: cluster, ns: newNamespace(t, nil)}
	f.template = &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "base"},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate: debianTemplate,
			Tags:       []lxcv1.Tag{"web"},
			Resources:  lxcv1.Resources{Cores: ptr(int32(2)), MemoryMiB: ptr(int32(1024)), DiskGiB: ptr(int32(4))},
			Features:   lxcv1.Features{Nesting: true},
			Network:    lxcv1.Network{IPv4: "dhcp"},
		},
	}
	return f
}

func (f *pipelineFixture) createTemplate(t testing.TB) {
	t.Helper()
	if err := k8s.Create(testCtx, f.template); err != nil {
		t.Fatal(err)
	}
}

func (f *pipelineFixture) container(name string, mutate ...func(*lxcv1.LXCContainer)) *lxcv1.LXCContainer {
	c := &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef:  lxcv1.ClusterReference{Name: f.cluster.Name},
			TemplateRef: lxcv1.LocalObjectReference{Name: f.template.Name},
		},
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

// guests lists the simulator's containers.
// started creates c and waits until its container runs; it returns where that is.
func (f *pipelineFixture) started(t testing.TB, c *lxcv1.LXCContainer) (*lxcv1.LXCContainer, int, string) {
	t.Helper()
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
	return c, int(c.Status.VMID), c.Status.Node
}

// deleteAndExpectDestroyed deletes c and expects its Proxmox container gone with it.
func (f *pipelineFixture) deleteAndExpectDestroyed(t testing.TB, c *lxcv1.LXCContainer, node string, vmid int) {
	t.Helper()
	if err := k8s.Delete(testCtx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, gone(c))
	if _, err := f.px.ContainerConfig(testCtx, node, vmid); !errors.Is(err, proxmox.ErrNotFound) {
		t.Errorf("CT %d still exists after its LXCContainer was deleted: %v", vmid, err)
	}
}

func (f *pipelineFixture) guests(t testing.TB) []proxmox.Guest {
	t.Helper()
	g, err := f.px.Guests(testCtx)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ptr[T any](v T) *T { return &v }

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(testCtx, obj); err != nil {
		t.Fatal(err)
	}
}

func TestContainerIsCreatedAndStarted(t *testing.T) {
	logMark := managerLog.Mark()
	f := newPipelineFixture(t, "pipe-create")
	f.createTemplate(t)
	c := f.container("web-1", func(c *lxcv1.LXCContainer) {
		c.Spec.Resources = &lxcv1.Resources{MemoryMiB: ptr(int32(768))}
		c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0aQhSLqWcUdEnOCSEhYqLWCIKAQnWnxqNbxLV6f3B user@laptop"}
	})
	create(t, c)

	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
	if err := condition(c, lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, lxcv1.SucceededReason)(); err != nil {
		t.Error(err)
	}
	st := c.Status
	if st.VMID < 100 || st.Node == "" || st.IPAddress == "" {
		t.Fatalf("status lacks vmid, node or address: %+v", st)
	}
	if !slices.Contains(c.Finalizers, lxcv1.Finalizer) {
		t.Errorf("finalizer missing: %v", c.Finalizers)
	}
	// The fake backend has no sshd: the pipeline waits at the config-manager phase, saying why.
	eventually(t, 10*time.Second, condition(c, lxcv1.ConfigManagerDeployedCondition, metav1.ConditionFalse, lxcv1.SSHUnreachableReason))
	if err := condition(c, lxcv1.ReconcilingCondition, metav1.ConditionTrue, "")(); err != nil {
		t.Errorf("a provisioning container should be Reconciling: %v", err)
	}

	cfg, err := f.px.ContainerConfig(testCtx, st.Node, int(st.VMID))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Tags, lxcv1.ProxmoxTag) || !slices.Contains(cfg.Tags, "web") {
		t.Errorf("tags = %v, want lxctm and web", cfg.Tags)
	}
	marker := fmt.Sprintf("lxctm-owner: %s/web-1 uid=%s", f.ns, c.UID)
	if !strings.Contains(cfg.Description, marker) {
		t.Errorf("description %q lacks the marker %q", cfg.Description, marker)
	}
	if cfg.Cores != 2 || cfg.MemoryMiB != 768 || cfg.Hostname != "web-1" || !cfg.Unprivileged || !cfg.Features.Nesting {
		t.Errorf("config does not merge template and overrides: cores %d memory %d hostname %s unprivileged %v nesting %v",
			cfg.Cores, cfg.MemoryMiB, cfg.Hostname, cfg.Unprivileged, cfg.Features.Nesting)
	}
	if net0 := cfg.Nets[0]; net0.IP != "dhcp" || net0.Bridge != "vmbr0" {
		t.Errorf("net0 = %+v", net0)
	}
	if !strings.HasPrefix(cfg.RootFS.Volume, "local-lvm:") || cfg.RootFS.Size != "4G" {
		t.Errorf("rootfs = %+v", cfg.RootFS)
	}

	// The generated root password lives only in its Secret, which the container owns.
	secret := &corev1.Secret{}
	if err := k8s.Get(testCtx, types.NamespacedName{Namespace: f.ns, Name: "web-1-root-password"}, secret); err != nil {
		t.Fatal(err)
	}
	password := string(secret.Data["password"])
	if len(password) != 16 {
		t.Errorf("generated password has %d characters", len(password))
	}
	if !metav1.IsControlledBy(secret, c) {
		t.Error("the root password Secret is not owned by the container")
	}
	if ref := st.RootPasswordSecretRef; ref == nil || ref.Name != "web-1-root-password" || ref.Key != "password" {
		t.Errorf("status.rootPasswordSecretRef = %+v", ref)
	}
	assertNoSecretInObject(t, c, logMark, map[string]string{"generated root password": password})
}

// assertNoSecretInObject fails when a secret value appears where a reader of obj would see it:
// in the object as the API server serves it (its status's JSON included), in the notes of the
// Events of its namespace, or in what the managers logged since logMark.
func assertNoSecretInObject(t *testing.T, obj client.Object, logMark int64, secrets map[string]string) {
	t.Helper()
	served := &unstructured.Unstructured{}
	served.SetGroupVersionKind(lxcv1.GroupVersion.WithKind("LXCContainer"))
	if err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), served); err != nil {
		t.Fatal(err)
	}
	objectJSON, err := json.Marshal(served.Object)
	if err != nil {
		t.Fatal(err)
	}
	events := &eventsv1.EventList{}
	if err := k8s.List(testCtx, events, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	var notes strings.Builder
	for _, e := range events.Items {
		notes.WriteString(e.Note + "\n")
	}
	testkit.AssertNoSecrets(t, map[string]string{
		"the object's JSON":        string(objectJSON),
		"the Events' notes":        notes.String(),
		"the managers' log (JSON)": managerLog.Since(logMark),
	}, secrets)
}

// TestContainerOnForeignVMIDStallsAndLeavesItAlone puts someone else's container — no lxctm tag,
// no owner marker, though the very hostname the LXCContainer asks for — at the VMID an
// LXCContainer asks for. The controller must stall with VMIDConflict and never touch it: its
// configuration (by digest) and state stay as they were and no task but its create concerns it,
// while the LXCContainer is reconciled again and after it is deleted.
func TestContainerOnForeignVMIDStallsAndLeavesItAlone(t *testing.T) {
	f := newPipelineFixture(t, "pipe-foreign")
	f.createTemplate(t)
	upid, err := f.px.CreateContainer(testCtx, "pve1", proxmox.CreateSpec{
		VMID: 150, OSTemplate: debianTemplate, Hostname: "wants-150", Description: "a database someone runs by hand",
		Tags: []string{"prod"}, Storage: "local-lvm", RootFSGiB: 2, Nets: []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, testCtx, f.px, upid)
	before := f.foreignState(t, "pve1", 150)
	if slices.Contains(before.config.Tags, lxcv1.ProxmoxTag) || strings.Contains(before.config.Description, lxcv1.OwnerMarkerPrefix) ||
		before.config.Digest == "" || before.tasks != 1 {
		t.Fatalf("the foreign container is not what the test means: %+v", before)
	}

	c := f.container("wants-150", func(c *lxcv1.LXCContainer) { c.Spec.VMID = ptr(int32(150)); c.Spec.Node = "pve1" })
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.VMIDConflictReason))
	if err := condition(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.VMIDConflictReason)(); err != nil {
		t.Error(err)
	}
	if c.Status.ObservedGeneration != c.Generation {
		t.Errorf("a stalled generation is finished: observedGeneration %d, generation %d", c.Status.ObservedGeneration, c.Generation)
	}
	// A stall is no licence: one more reconcile, asked for, must leave it alone too.
	update(t, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, "foreign-1")
	})
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.LastHandledReconcileAt != "foreign-1" {
			return fmt.Errorf("the requested reconcile is not handled yet (%q)", c.Status.LastHandledReconcileAt)
		}
		return condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.VMIDConflictReason)()
	})
	f.expectForeignUntouched(t, before)

	// Deleting the LXCContainer must not destroy or change the foreign container either.
	if err := k8s.Delete(testCtx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, gone(c))
	f.expectForeignUntouched(t, before)
}

// foreignState is what the foreign-VMID test compares of a container the controller must not
// touch: its configuration (with its digest), its state, and how many tasks concerned it.
type foreignState struct {
	config proxmox.ContainerConfig
	status string
	tasks  int
}

func (f *pipelineFixture) foreignState(t *testing.T, node string, vmid int) foreignState {
	t.Helper()
	cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
	if err != nil {
		t.Fatalf("CT %d: %v", vmid, err)
	}
	st, err := f.px.ContainerStatus(testCtx, node, vmid)
	if err != nil {
		t.Fatalf("CT %d: %v", vmid, err)
	}
	req, err := http.NewRequestWithContext(testCtx, http.MethodGet,
		fmt.Sprintf("%s/nodes/%s/tasks?vmid=%d&source=all&limit=10000", f.sim.URL, node, vmid), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", f.sim.Token())
	resp, err := f.sim.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tasks struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tasks); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tasks of CT %d: %s, %v", vmid, resp.Status, err)
	}
	return foreignState{config: cfg, status: st.Status, tasks: len(tasks.Data)}
}

// expectForeignUntouched fails unless the foreign container is as it was.
func (f *pipelineFixture) expectForeignUntouched(t *testing.T, before foreignState) {
	t.Helper()
	now := f.foreignState(t, "pve1", 150)
	if now.config.Digest != before.config.Digest {
		t.Errorf("the foreign container's configuration changed (digest %s, was %s): %+v", now.config.Digest, before.config.Digest, now.config.Raw)
	}
	if now.status != before.status {
		t.Errorf("the foreign container is %s, was %s", now.status, before.status)
	}
	if now.tasks != before.tasks {
		t.Errorf("%d tasks concern the foreign container, %d before the LXCContainer", now.tasks, before.tasks)
	}
}

func TestContainerAllocatedVMIDSkipsForeignContainers(t *testing.T) {
	f := newPipelineFixture(t, "pipe-skip")
	f.createTemplate(t)
	c := f.container("auto")
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, ""))
	if c.Status.VMID != 100 {
		t.Fatalf("first allocation got VMID %d, want 100", c.Status.VMID)
	}
	c2 := f.container("auto-2")
	create(t, c2)
	eventually(t, 20*time.Second, condition(c2, lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, ""))
	if c2.Status.VMID == c.Status.VMID {
		t.Fatalf("two containers share VMID %d", c.Status.VMID)
	}
}

func TestContainerWithMarkerIsAdoptedNotCreatedTwice(t *testing.T) {
	f := newPipelineFixture(t, "pipe-adopt")
	// The container exists before its template, so the controller waits and does nothing.
	c := f.container("adoptee", func(c *lxcv1.LXCContainer) { c.Spec.VMID = ptr(int32(170)); c.Spec.Node = "pve2" })
	create(t, c)
	eventually(t, 10*time.Second, condition(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.DependencyNotReadyReason))

	// As if an earlier manager created it and crashed before recording anything.
	upid, err := f.px.CreateContainer(testCtx, "pve2", proxmox.CreateSpec{
		VMID: 170, OSTemplate: debianTemplate, Hostname: "adoptee", Tags: []string{lxcv1.ProxmoxTag}, Storage: "local-lvm", RootFSGiB: 2,
		Nets:        []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
		Description: ownerMarker(c),
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, testCtx, f.px, upid)

	f.createTemplate(t)
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
	var ours int
	for _, g := range f.guests(t) {
		if g.IsContainer() {
			ours++
		}
	}
	if ours != 1 {
		t.Errorf("%d containers in Proxmox, want exactly the adopted one", ours)
	}
	eventually(t, 5*time.Second, eventFor(c, lxcv1.AdoptedReason))
}

func TestContainerDeleteDestroysTheProxmoxContainer(t *testing.T) {
	f := newPipelineFixture(t, "pipe-delete")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("doomed"))

	f.deleteAndExpectDestroyed(t, c, node, vmid)
}

func TestContainerDeleteDuringCreateWaitsThenDestroys(t *testing.T) {
	f := newPipelineFixture(t, "pipe-delete-early", pvesimtest.WithTaskDurationOf("vzcreate", 3*time.Second))
	f.createTemplate(t)
	c := f.container("hasty")
	create(t, c)
	eventually(t, 10*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if _, ok := operationTask(c.Status.Operation, "vzcreate"); !ok {
			return fmt.Errorf("no create task in flight yet (operation %q)", c.Status.Operation)
		}
		return nil
	})
	vmid, node := int(c.Status.VMID), c.Status.Node
	f.deleteAndExpectDestroyed(t, c, node, vmid)
}

func TestContainerRetainLeavesTheProxmoxContainer(t *testing.T) {
	f := newPipelineFixture(t, "pipe-retain")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("kept", func(c *lxcv1.LXCContainer) { c.Spec.DeletionPolicy = lxcv1.DeletionPolicyRetain }))
	if err := k8s.Delete(testCtx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, gone(c))
	status, err := f.px.ContainerStatus(testCtx, node, vmid)
	if err != nil || !status.Running() {
		t.Errorf("a retained container should be left running: %+v, %v", status, err)
	}
}

func TestContainerStoppedIsReadyAndStopped(t *testing.T) {
	f := newPipelineFixture(t, "pipe-stopped")
	f.createTemplate(t)
	c := f.container("sleeper", func(c *lxcv1.LXCContainer) { c.Spec.PowerState = lxcv1.PowerStateStopped })
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	if err := condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionFalse, lxcv1.StoppedReason)(); err != nil {
		t.Error(err)
	}
	if c.Status.Phase != "Stopped" {
		t.Errorf("phase = %q, want Stopped", c.Status.Phase)
	}
	status, err := f.px.ContainerStatus(testCtx, c.Status.Node, int(c.Status.VMID))
	if err != nil || status.Running() {
		t.Errorf("container should be stopped: %+v, %v", status, err)
	}

	// Asking for Running starts it.
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.PowerState = lxcv1.PowerStateRunning })
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
}

func TestContainerResourcesChangeInPlace(t *testing.T) {
	f := newPipelineFixture(t, "pipe-resize")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("growing"))

	update(t, c, func(c *lxcv1.LXCContainer) {
		c.Spec.Resources = &lxcv1.Resources{Cores: ptr(int32(3)), MemoryMiB: ptr(int32(2048)), SwapMiB: ptr(int32(0))}
	})
	eventually(t, 20*time.Second, func() error {
		cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
		if err != nil {
			return err
		}
		if cfg.Cores != 3 || cfg.MemoryMiB != 2048 || cfg.SwapMiB != 0 {
			return fmt.Errorf("config: cores %d memory %d swap %d", cfg.Cores, cfg.MemoryMiB, cfg.SwapMiB)
		}
		return nil
	})
	if guests := f.guests(t); len(guests) != 1 {
		t.Errorf("resizing created or lost containers: %d guests", len(guests))
	}
}

// TestContainerDiskGrowsAndRefusesToShrink: a larger diskGiB grows the root disk with a
// resize task; a smaller one stalls naming the field, and the disk stays as it is.
func TestContainerDiskGrowsAndRefusesToShrink(t *testing.T) {
	f := newPipelineFixture(t, "pipe-disk")
	f.createTemplate(t) // diskGiB 4
	c, vmid, node := f.started(t, f.container("disk"))
	rootfsSize := func() string {
		cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.RootFS.Size
	}

	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Resources = &lxcv1.Resources{DiskGiB: ptr(int32(12))} })
	eventually(t, 20*time.Second, func() error {
		if got := rootfsSize(); got != "12G" {
			return fmt.Errorf("rootfs size %s", got)
		}
		return nil
	})
	eventually(t, 20*time.Second, eventFor(c, lxcv1.ResizingReason))
	// The new size is in the config before the task has ended.
	eventually(t, 20*time.Second, func() error {
		if n := f.sim.Counters().TaskTotal("resize", "ok"); n != 1 {
			return fmt.Errorf("%d resize tasks ended ok, want 1", n)
		}
		return nil
	})
	if n := f.sim.Counters().TaskTotal("resize", ""); n != 1 {
		t.Errorf("%d resize tasks, want 1", n)
	}

	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Resources = &lxcv1.Resources{DiskGiB: ptr(int32(6))} })
	eventually(t, 20*time.Second, condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.DiskShrinkRefusedReason))
	if msg := conditions.GetMessage(c, lxcv1.ReadyCondition); !strings.Contains(msg, "resources.diskGiB asks for 6 GiB") || !strings.Contains(msg, "12G") {
		t.Errorf("the refusal does not name the field and the sizes: %q", msg)
	}
	if got := rootfsSize(); got != "12G" {
		t.Errorf("a refused shrink changed the disk to %s", got)
	}
}

func TestContainerWaitsForItsTemplate(t *testing.T) {
	f := newPipelineFixture(t, "pipe-notemplate")
	c := f.container("orphan")
	create(t, c)
	eventually(t, 10*time.Second, condition(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.DependencyNotReadyReason))
	if msg := conditionMessage(c.Status.Conditions); !strings.Contains(msg, "LXCTemplate base not found") {
		t.Errorf("Ready message = %q", msg)
	}
	if len(f.guests(t)) != 0 {
		t.Error("a container without template reached Proxmox")
	}
}

func gone(obj client.Object) func() error {
	return func() error {
		err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%s still exists (finalizers %v)", obj.GetName(), obj.GetFinalizers())
	}
}

func eventFor(obj client.Object, reason string) func() error {
	return func() error {
		list := &corev1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(obj.GetNamespace())); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == obj.GetName() && e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s", reason, obj.GetName())
	}
}

func TestContainerThatVanishesIsCreatedAgain(t *testing.T) {
	f := newPipelineFixture(t, "pipe-vanish")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("phoenix"))

	// Someone destroys it behind the controller's back.
	upid, err := f.px.StopContainer(testCtx, node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, testCtx, f.px, upid)
	if upid, err = f.px.DeleteContainer(testCtx, node, vmid, proxmox.DeleteOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, testCtx, f.px, upid)

	// A change to the spec makes the controller look now rather than at the next resync.
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Resources = &lxcv1.Resources{MemoryMiB: ptr(int32(640))} })
	eventually(t, 30*time.Second, func() error {
		cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
		if err != nil {
			return err
		}
		if !ownedBy(cfg.Description, c) || cfg.MemoryMiB != 640 {
			return fmt.Errorf("CT %d: description %q, memory %d", vmid, cfg.Description, cfg.MemoryMiB)
		}
		return nil
	})
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
	eventually(t, 5*time.Second, eventFor(c, lxcv1.ContainerVanishedReason))
}

// secretsFailing answers every Secret read with err, as an API server does that is starting
// (Forbidden until its authorizer has the roles) or away (a connection error).
type secretsFailing struct {
	client.Reader
	err error
}

func (s secretsFailing) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		return s.err
	}
	return s.Reader.Get(ctx, key, obj, opts...)
}

// TestContainerRetriesAClusterSecretThatCouldNotBeRead: a failed read of the cluster's Secret is
// the API server's trouble, not the cluster's, so the container does not wait for the cluster's
// readiness to change (which would not happen) but is retried as a failure; a Secret that is
// really missing still makes it wait for the cluster, which reports it.
func TestContainerRetriesAClusterSecretThatCouldNotBeRead(t *testing.T) {
	f := newPipelineFixture(t, "secret-read")
	f.createTemplate(t)
	gr := corev1.Resource("secrets")
	for _, tc := range []struct {
		name   string
		err    error
		waits  bool
		reason string
	}{
		{"forbidden while the API server starts", apierrors.NewForbidden(gr, f.cluster.Name, errors.New("RBAC: role not found")), false, ""},
		{"API server away", apierrors.NewServiceUnavailable("the server is shutting down"), false, ""},
		{"Secret missing", apierrors.NewNotFound(gr, f.cluster.Name), true, lxcv1.DependencyNotReadyReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &LXCContainerReconciler{Client: k8s, APIReader: k8s, Connector: &ClusterConnector{
				Secrets: secretsFailing{k8s, tc.err}, Factory: proxmox.NewFactory(),
				Namespace: controllerNamespace, CredentialsNamespaces: []string{sharedCredentialsNamespace}}}
			obj := f.container("ct")
			err := r.resolve(testCtx, &containerScope{obj: obj, redactor: r.newRedactor(testCtx, obj)})
			var wait *outcome.WaitError
			switch {
			case err == nil:
				t.Fatal("resolve succeeded without the cluster's Secret")
			case !tc.waits && outcome.IsStallOrWait(err):
				t.Errorf("resolve returned %T %q: a failed read must be retried as a failure, not waited out", err, err)
			case !tc.waits && !errors.Is(err, tc.err):
				t.Errorf("resolve returned %q, which lost the API server's answer %q", err, tc.err)
			case tc.waits && (!errors.As(err, &wait) || wait.Reason != tc.reason):
				t.Errorf("resolve returned %T %q, want a wait with reason %s", err, err, tc.reason)
			}
			if err != nil && !strings.Contains(err.Error(), f.cluster.Name) {
				t.Errorf("the error %q does not name ProxmoxCluster %s", err, f.cluster.Name)
			}
		})
	}
}

// TestContainerFailedByAnUnreachableClusterSaysSo: while the Proxmox API closes every
// connection unanswered, the failing phase, Ready and status.retry all name Unreachable, the
// reason a cluster's return releases (releaseByCluster); once it answers, the container is made.
func TestContainerFailedByAnUnreachableClusterSaysSo(t *testing.T) {
	f := newPipelineFixture(t, "pipe-unreachable")
	f.createTemplate(t)
	rule := f.sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "*"})
	c := f.container("web")
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.UnreachableReason))
	if err := condition(c, lxcv1.ContainerCreatedCondition, metav1.ConditionFalse, lxcv1.UnreachableReason)(); err != nil {
		t.Error(err)
	}
	if r := c.Status.Retry; r == nil || r.Reason != lxcv1.UnreachableReason {
		t.Errorf("status.retry = %+v, want reason %s", r, lxcv1.UnreachableReason)
	}
	f.sim.RemoveFault(rule.ID)
	eventually(t, 30*time.Second, condition(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
}
