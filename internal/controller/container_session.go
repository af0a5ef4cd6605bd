package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// connectingPoll is how soon a container whose SSH connection is still being opened looks again
// should the pool's word that the dial ended be lost; normally that word wakes it at once.
const connectingPoll = 15 * time.Second

// guestLinkFor is the link through which the phases after Start reach the guest.
func (r *LXCContainerReconciler) guestLinkFor(s *containerScope) *guestLink {
	return &guestLink{open: func(ctx context.Context) (ssh.Session, error) { return r.openSession(ctx, s) }}
}

// openSession returns the SSH session to the container from the manager's connection pool.
// The pool dials in the background, so a guest still booting holds no worker: until the dial
// ends the phase waits with reason Connecting, and the dial's end wakes the container. Every new
// connection is checked to reach this container, as Proxmox knows it, before anything is sent
// on it (identityCheck); its host key is pinned on first contact and held to the pin after.
func (r *LXCContainerReconciler) openSession(ctx context.Context, s *containerScope) (ssh.Session, error) {
	signer, fallback, err := r.loginKeys(ctx, s)
	if err != nil {
		return nil, err
	}
	st := &s.obj.Status
	sess, err := r.connections().Get(connectionKey(s.obj), ssh.Target{
		Address: st.IPAddress, Signer: signer, Fallback: fallback, HostKey: st.SSHHostKey,
		Verify: identityCheck(s.px, st.Node, st.VMID, st.IPAddress),
	})
	if err != nil {
		return nil, r.sessionFailed(ctx, s, err)
	}
	if st.SSHHostKey == "" {
		// First contact: before the host key is pinned and anything is uploaded or run, make
		// sure the guest can take config-manager.
		if err := checkSupport(ctx, s, sess); err != nil {
			r.connections().Drop(connectionKey(s.obj))
			return nil, err
		}
		if st.ClonedFrom != 0 {
			return nil, r.regenerateHostKeys(ctx, s, sess)
		}
		st.SSHHostKey = sess.HostKey()
	}
	return sess, nil
}

// sessionFailed says what a connection that could not be had means for the phase.
func (r *LXCContainerReconciler) sessionFailed(ctx context.Context, s *containerScope, err error) error {
	addr := s.obj.Status.IPAddress
	var mismatch *ssh.HostKeyMismatchError
	switch {
	case errors.Is(err, ssh.ErrConnecting):
		return outcome.Wait(connectingPoll, lxcv1.ConnectingReason, "%w", err)
	case errors.As(err, &mismatch):
		return r.hostKeyChanged(ctx, s, mismatch)
	case errors.Is(err, ssh.ErrAuthentication):
		return outcome.Failed(lxcv1.SSHUnreachableReason, fmt.Errorf("the container at %s refused the controller's SSH key", addr))
	}
	if err, moved := r.addressMoved(s, err); moved {
		return err
	}
	var refused *outcome.ReasonedError
	if errors.As(err, &refused) || outcome.IsStallOrWait(err) {
		return err // the identity check's verdict
	}
	// The dial retried while the guest booted; what still fails is retried on the back-off
	// schedule, so an address that never answers is not dialled forever. A DHCP lease may have
	// moved: the next look reads the interfaces again.
	r.lastAddress.forget(s.obj.UID)
	return outcome.Failed(lxcv1.SSHUnreachableReason, fmt.Errorf("no SSH on %s: %w", addr, err))
}

// hostKeyChanged handles a host key other than the pinned one at the container's address. When
// Proxmox no longer shows the address on the container, its lease moved and another machine has
// it: the next look follows the container to its new address (AddressChanged), no one need act.
// When the accept-host-key annotation names the key seen, the key is pinned. Otherwise the
// container stalls, saying how to accept the key.
func (r *LXCContainerReconciler) hostKeyChanged(ctx context.Context, s *containerScope, mismatch *ssh.HostKeyMismatchError) error {
	st := &s.obj.Status
	if err := proxmoxHolds(ctx, s.px, st.Node, st.VMID, st.IPAddress); err != nil {
		err, _ = r.addressMoved(s, err)
		return err
	}
	if s.obj.Annotations[lxcv1.AcceptHostKeyAnnotation] == mismatch.Seen {
		r.announce(s.obj, hostKeyAccepted, st.VMID, mismatch.Seen, mismatch.Expected, lxcv1.AcceptHostKeyAnnotation)
		st.SSHHostKey = mismatch.Seen
		return outcome.Wait(time.Second, lxcv1.ConnectingReason, "connecting to %s with the accepted SSH host key %s", st.IPAddress, mismatch.Seen)
	}
	return outcome.Stall(lxcv1.HostKeyMismatchReason,
		"the SSH host key of %s changed from %s to %s, and Proxmox shows the address on CT %d; if its host keys were made again on purpose, annotate this LXCContainer with %s=%s",
		st.IPAddress, mismatch.Expected, mismatch.Seen, st.VMID, lxcv1.AcceptHostKeyAnnotation, mismatch.Seen)
}

// connectionKey names a container's connection in the pool.
func connectionKey(obj client.Object) string {
	return obj.GetNamespace() + "/" + obj.GetName()
}

// connections is the manager's pool of SSH connections; its dials wake their containers
// through connectionEvents once SetupWithManager has wired them.
func (r *LXCContainerReconciler) connections() *ssh.Pool {
	r.poolOnce.Do(func() {
		r.pool = &ssh.Pool{Connector: r.SSH}
		if r.connectionEvents != nil {
			events := r.connectionEvents
			r.pool.OnReady = func(key string) {
				ns, name, _ := strings.Cut(key, "/")
				obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
				select {
				case events <- event.GenericEvent{Object: obj}:
				default:
					// The queue is full; the container's own poll looks again.
				}
			}
		}
	})
	return r.pool
}

// forgetConnection closes the container's connection: it restarted, or is gone.
func (r *LXCContainerReconciler) forgetConnection(obj client.Object) {
	r.connections().Drop(connectionKey(obj))
}

// loginKeys returns the key to log in to a container with, and the keys to try after it. A
// container that trusts a key the controller no longer has stalls with SSHKeyLost: dialling it
// would fail forever.
func (r *LXCContainerReconciler) loginKeys(ctx context.Context, s *containerScope) (gossh.Signer, []gossh.Signer, error) {
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return nil, nil, err
	}
	// The key the container is known to trust goes first; the cluster's other key follows, as the
	// status read may be older than a rotation this controller already carried out.
	fp := s.obj.Status.SSHKeyFingerprint
	known := key.find(fp)
	if fp != "" && known == nil {
		// The cached object may predate this controller's own rotation; only the live status
		// can tell a lost key.
		live := &lxcv1.LXCContainer{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.obj), live); err == nil {
			if k := key.find(live.Status.SSHKeyFingerprint); k != nil {
				s.obj.Status.SSHKeyFingerprint, fp, known = k.fingerprint, k.fingerprint, k
			}
		}
	}
	if fp != "" && known == nil {
		return nil, nil, outcome.Stall(lxcv1.SSHKeyLostReason,
			"the container trusts the controller's SSH key %s, which Secret %s no longer holds (it holds %s): the key Secret was deleted or replaced; "+
				"restore it, or put the lost private key under %s, and the container is moved to the current key",
			fp, key.Secret, key.Current.fingerprint, sshPreviousPrivateKeyKey)
	}
	first := key.Current
	if known != nil {
		first = known
	}
	var fallback []gossh.Signer
	for _, k := range []*sshKey{key.Current, key.Previous} {
		if k != nil && k != first {
			fallback = append(fallback, k.signer)
		}
	}
	return first.signer, fallback, nil
}
