package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/discovery"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ownedsecret"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// reconcileServices lists the container's listening sockets and running units, builds
// status.services, copies the credentials scripts left in /etc/config-manager/credentials into
// the Secret <name>-credentials, and checks that every service the template promises was found.
func (r *LXCContainerReconciler) reconcileServices(ctx context.Context, s *containerScope, p provisioned) (string, error) {
	st := &s.obj.Status
	done := func() string {
		return fmt.Sprintf("%d services found, all %d promised present", len(st.Services), len(s.desired.Promises))
	}
	key := discoveryKey(s)
	if !s.requested && conditions.IsTrue(s.obj, lxcv1.ServicesDiscoveredCondition) && r.lastDiscover.fresh(s.obj.UID, key, r.resync()) &&
		r.credentialsSecretExists(ctx, s) {
		return done(), nil
	}
	addr, err := netip.ParseAddr(st.IPAddress)
	if err != nil {
		return "", fmt.Errorf("container address %q: %w", st.IPAddress, err)
	}
	sess, err := p.guest.session(ctx)
	if errors.Is(err, ssh.ErrConnecting) && routineLook(s, key, r.lastDiscover.key(s.obj.UID)) {
		// The routine look of a Ready container whose connection was closed while idle, or
		// after the manager restarted: it stays Ready while the connection opens, and the
		// dial's end wakes it to look.
		return done(), nil
	}
	if err != nil {
		return "", err
	}
	res, err := sess.Exec(ctx, ssh.Command{Line: discovery.CollectCommand})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("service discovery exited %d: %s", res.ExitCode, tail(string(res.Stderr), 3))
	}
	snap, err := discovery.ParseSnapshot(res.Stdout)
	if err != nil {
		return "", fmt.Errorf("reading service discovery: %w", err)
	}
	services := discovery.Services(snap, addr)
	st.Services = discoveredServices(services, s.desired.Promises)

	if err := r.writeCredentials(ctx, s, snap.Credentials); err != nil {
		return "", err
	}
	if short := discovery.CheckPromises(services, snap.Running, s.desired.Promises); len(short) > 0 {
		missing := make([]string, 0, len(short))
		for _, sf := range short {
			missing = append(missing, sf.String())
		}
		// A service may come up late, so it is looked for again, less often the longer it is missing.
		return "", lookAgain(s, lxcv1.ServicesMissingReason, "promised services not found: %s", strings.Join(missing, "; "))
	}
	r.lastDiscover.mark(s.obj.UID, key)
	return done(), nil
}

// routineLook says a discovery is only the periodic look: services were discovered for this
// generation, nobody asked for a fresh look, and nothing the guest runs changed since the last
// look this manager made (lastKey is empty when it made none).
func routineLook(s *containerScope, key, lastKey string) bool {
	c := conditions.Get(s.obj, lxcv1.ServicesDiscoveredCondition)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == s.obj.Generation && !s.requested &&
		(lastKey == "" || lastKey == key)
}

// discoveredServices maps discovery's services onto status, naming a service after the promise
// it fulfils, else its unit, else its process.
func discoveredServices(services []discovery.Service, promises []discovery.Promise) []lxcv1.DiscoveredService {
	out := make([]lxcv1.DiscoveredService, 0, len(services))
	for _, svc := range services {
		name := svc.Name
		for _, p := range promises {
			if p.Port == svc.Port && p.Protocol == svc.Protocol {
				name = p.Name
			}
		}
		proto := lxcv1.ProtocolTCP
		if svc.Protocol == discovery.UDP {
			proto = lxcv1.ProtocolUDP
		}
		out = append(out, lxcv1.DiscoveredService{
			Name: name, Port: int32(svc.Port), Protocol: proto, Address: svc.Address,
			Process: svc.Process, Unit: svc.Unit, URL: svc.URL,
		})
	}
	return out
}

// writeCredentials keeps the Secret <name>-credentials equal to the credentials files. Values
// go only into the Secret; status names the Secret.
func (r *LXCContainerReconciler) writeCredentials(ctx context.Context, s *containerScope, files []discovery.CredentialsFile) error {
	data, err := discovery.CredentialsData(files)
	s.redactor.AddData(data)
	if err != nil {
		// A clash or a bad file is reported by name; the readable keys are still stored.
		r.announce(s.obj, credentialsProblem, err)
	}
	name := s.obj.Name + "-credentials"
	if len(data) == 0 && s.obj.Status.CredentialsSecretRef == nil {
		return nil
	}
	err = r.ownedSecrets().Apply(ctx, s.obj, name, data)
	if errors.Is(err, ownedsecret.ErrNotOwned) {
		return outcome.Stall(lxcv1.InvalidSpecReason, "Secret %s exists and is not owned by this LXCContainer", name)
	}
	if err != nil {
		return err
	}
	s.obj.Status.CredentialsSecretRef = &lxcv1.LocalObjectReference{Name: name}
	return nil
}

// credentialsSecretExists says whether the credentials Secret status names is still there; a
// deleted one (its deletion is what woke the container) is written again by a fresh discovery,
// not a resync period later. It reads metadata only.
func (r *LXCContainerReconciler) credentialsSecretExists(ctx context.Context, s *containerScope) bool {
	ref := s.obj.Status.CredentialsSecretRef
	if ref == nil {
		return true
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: ref.Name}, meta) == nil
}

// discoveryKey changes whenever what runs in the container may have changed.
func discoveryKey(s *containerScope) string {
	var b strings.Builder
	b.WriteString(s.obj.Status.IPAddress)
	b.WriteString(s.obj.Status.ConfigHash)
	for _, sc := range s.obj.Status.Scripts {
		b.WriteString(sc.Hash)
	}
	return b.String()
}
