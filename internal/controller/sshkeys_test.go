package controller

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func testKeys(t *testing.T) *ControllerKey {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	return &ControllerKey{Client: k8s, Reader: k8s, Namespace: controllerNamespace}
}

func keySecret(t *testing.T, cluster string) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	if err := k8s.Get(testCtx, types.NamespacedName{Namespace: controllerNamespace, Name: SSHKeySecretFor(cluster)}, secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestEachClusterHasItsOwnKeyAndRotationKeepsTheOldOneUntilRetired(t *testing.T) {
	keys := testKeys(t)
	a, err := keys.Load(testCtx, "keys-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Load(testCtx, "keys-b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Current.fingerprint == b.Current.fingerprint || a.Previous != nil {
		t.Fatalf("clusters share a key or start with a previous one: %s %s", a.Current.fingerprint, b.Current.fingerprint)
	}
	if again, _ := (&ControllerKey{Client: k8s, Reader: k8s, Namespace: controllerNamespace}).Load(testCtx, "keys-a"); again.Current.fingerprint != a.Current.fingerprint {
		t.Fatal("a second replica loaded another key")
	}

	secret := keySecret(t, "keys-a")
	secret.Annotations[RotateSSHKeyAnnotation] = "1"
	if err := k8s.Update(testCtx, secret); err != nil {
		t.Fatal(err)
	}
	keys.Forget("keys-a")
	rotated, err := keys.Load(testCtx, "keys-a")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Previous == nil || rotated.Previous.fingerprint != a.Current.fingerprint || rotated.Current.fingerprint == a.Current.fingerprint {
		t.Fatalf("after rotation: current %v, previous %v (was %s)", rotated.Current, rotated.Previous, a.Current.fingerprint)
	}
	// A second request waits for the first rotation to finish: the oldest key is never dropped.
	secret = keySecret(t, "keys-a")
	secret.Annotations[RotateSSHKeyAnnotation] = "2"
	if err := k8s.Update(testCtx, secret); err != nil {
		t.Fatal(err)
	}
	keys.Forget("keys-a")
	if k, _ := keys.Load(testCtx, "keys-a"); k.Current.fingerprint != rotated.Current.fingerprint {
		t.Fatal("a second rotation replaced the key before the first one finished")
	}
	if err := keys.Retire(testCtx, "keys-a", rotated.Current.fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, ok := keySecret(t, "keys-a").Data[sshPreviousPrivateKeyKey]; ok {
		t.Fatal("Retire left the previous key")
	}
	// Now the waiting request is carried out.
	next, err := keys.Load(testCtx, "keys-a")
	if err != nil {
		t.Fatal(err)
	}
	if next.Previous == nil || next.Previous.fingerprint != rotated.Current.fingerprint {
		t.Fatalf("the second rotation did not follow: %+v", next)
	}
}

func TestClusterKeyStartsFromTheSharedKeyOfEarlierVersions(t *testing.T) {
	private, public, err := newSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	// Another namespace, so the shared Secret of this test does not reach other tests.
	ns := newNamespace(t, nil)
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SSHKeySecretName},
		Data: map[string][]byte{sshPrivateKeyKey: private, sshPublicKeyKey: public}}
	if err := k8s.Create(testCtx, legacy); err != nil {
		t.Fatal(err)
	}
	key, err := (&ControllerKey{Client: k8s, Reader: k8s, Namespace: ns}).Load(testCtx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := parseSSHKey(private)
	if key.Current.fingerprint != want.fingerprint {
		t.Errorf("the cluster key is %s, the shared key %s", key.Current.fingerprint, want.fingerprint)
	}
}

func TestLostKeyStallsWithAReason(t *testing.T) {
	r := &LXCContainerReconciler{Key: testKeys(t), APIReader: k8s}
	cluster := &lxcv1.ProxmoxCluster{ObjectMeta: metav1.ObjectMeta{Name: "keys-lost"}}
	key, err := r.Key.Load(testCtx, cluster.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := &containerScope{cluster: cluster, obj: &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "keys-lost"}}}
	s.obj.Status.SSHKeyFingerprint = key.Current.fingerprint
	if _, _, err := r.loginKeys(testCtx, s); err != nil {
		t.Fatalf("with its key: %v", err)
	}
	// The Secret is deleted; the controller makes a new key, which the container does not trust.
	if err := k8s.Delete(testCtx, keySecret(t, cluster.Name)); err != nil {
		t.Fatal(err)
	}
	r.Key.Forget(cluster.Name)
	_, _, err = r.loginKeys(testCtx, s)
	var stall *outcome.StallError
	if !errors.As(err, &stall) || stall.Reason != lxcv1.SSHKeyLostReason {
		t.Fatalf("got %v, want a stall with reason %s", err, lxcv1.SSHKeyLostReason)
	}
	for _, want := range []string{key.Current.fingerprint, SSHKeySecretFor(cluster.Name), sshPreviousPrivateKeyKey} {
		if !strings.Contains(stall.Error(), want) {
			t.Errorf("message lacks %q: %s", want, stall.Error())
		}
	}
}

func TestAuthorizedKeysAddsThenRemoves(t *testing.T) {
	oldPriv, _, _ := newSSHKey()
	newPriv, _, _ := newSSHKey()
	oldKey, _ := parseSSHKey(oldPriv)
	newKey, _ := parseSSHKey(newPriv)
	user := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKeyUserKeyUserKeyUserKeyUserKey e2e@test"
	file := []byte(oldKey.authorized + "\n" + user + "\n")
	both := authorizedKeys(file, newKey, nil)
	if got := string(both); got != oldKey.authorized+"\n"+user+"\n"+newKey.authorized+"\n" {
		t.Errorf("adding: %q", got)
	}
	if again := authorizedKeys(both, newKey, nil); string(again) != string(both) {
		t.Errorf("adding twice changed the file: %q", again)
	}
	if got := string(authorizedKeys(both, newKey, oldKey)); got != user+"\n"+newKey.authorized+"\n" {
		t.Errorf("removing: %q", got)
	}
}

func TestLoginKeysOfferTheClustersOtherKey(t *testing.T) {
	r := &LXCContainerReconciler{Key: testKeys(t), APIReader: k8s}
	cluster := &lxcv1.ProxmoxCluster{ObjectMeta: metav1.ObjectMeta{Name: "keys-login"}}
	first, err := r.Key.Load(testCtx, cluster.Name)
	if err != nil {
		t.Fatal(err)
	}
	secret := keySecret(t, cluster.Name)
	secret.Annotations[RotateSSHKeyAnnotation] = "1"
	if err := k8s.Update(testCtx, secret); err != nil {
		t.Fatal(err)
	}
	r.Key.Forget(cluster.Name)
	key, err := r.Key.Load(testCtx, cluster.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := &containerScope{cluster: cluster, obj: &lxcv1.LXCContainer{}}
	s.obj.Status.SSHKeyFingerprint = first.Current.fingerprint
	signer, fallback, err := r.loginKeys(testCtx, s)
	if err != nil || len(fallback) != 1 {
		t.Fatalf("got %v, %d fallback keys, %v", signer, len(fallback), err)
	}
	// The key the status names first, then the current one: a status read before the rotation
	// reached it still logs in.
	if string(signer.PublicKey().Marshal()) != string(first.Current.signer.PublicKey().Marshal()) ||
		string(fallback[0].PublicKey().Marshal()) != string(key.Current.signer.PublicKey().Marshal()) {
		t.Error("login keys are not the trusted key followed by the current one")
	}
}
