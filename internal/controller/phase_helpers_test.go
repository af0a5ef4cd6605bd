package controller

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// The phase tests (phase_*_test.go) run the SSH phases against the fake backend's guest
// stand-ins (see fake.Guest): the controller's real SSH client talks to an in-process SSH
// server per container. They show the state machine of each phase; that a feature works in a
// real container is shown by test/e2e on LXC.

// guestPort is the port every guest of this test process listens on, each on its own
// loopback address: reserved for the process, as each guest binds it when its container starts.
var guestPort = func() int {
	port, _, err := testkit.ReserveProcessPort()
	if err != nil {
		panic(err)
	}
	return port
}()

// guestSubnets hands each guest fixture a /28 of its own in 169.254.0.0/24 and
// 169.254.255.0/24, which pvesim.DefaultNetwork never picks: a guest's loopback address
// follows from its container address, so no other simulator of the process may lease it.
var guestSubnets atomic.Int32

func nextGuestSubnet(t testing.TB) netip.Prefix {
	n := guestSubnets.Add(1) - 1
	if n >= 32 {
		t.Fatal("out of guest subnets: give phase tests a larger range")
	}
	third := byte(0)
	if n >= 16 {
		third, n = 255, n-16
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, third, byte(n * 16)}), 28)
}

// newGuestFixture is a pipeline fixture whose running containers have guests.
func newGuestFixture(t testing.TB, name string, opts ...pvesimtest.Option) *pipelineFixture {
	t.Helper()
	return newPipelineFixture(t, name, append([]pvesimtest.Option{
		pvesimtest.WithGuests(guestPort), pvesimtest.WithSubnet(nextGuestSubnet(t)), pvesimtest.WithDHCPDelay(10 * time.Millisecond),
	}, opts...)...)
}

// templateWith creates a template named name from the fixture's base spec changed by mutate.
func (f *pipelineFixture) templateWith(t testing.TB, name string, mutate func(*lxcv1.LXCTemplateSpec)) *lxcv1.LXCTemplate {
	t.Helper()
	tmpl := &lxcv1.LXCTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}}
	f.template.Spec.DeepCopyInto(&tmpl.Spec)
	if mutate != nil {
		mutate(&tmpl.Spec)
	}
	create(t, tmpl)
	return tmpl
}

// containerOf is a container of template tmpl.
func (f *pipelineFixture) containerOf(name string, tmpl *lxcv1.LXCTemplate, mutate ...func(*lxcv1.LXCContainer)) *lxcv1.LXCContainer {
	c := f.container(name, mutate...)
	c.Spec.TemplateRef.Name = tmpl.Name
	return c
}

// guestOf is the guest of c's container; c must have a VMID.
func (f *pipelineFixture) guestOf(t testing.TB, c *lxcv1.LXCContainer) *fake.Guest {
	t.Helper()
	g := f.sim.Guest(int(c.Status.VMID))
	if g == nil {
		t.Fatalf("CT %d of %s has no guest", c.Status.VMID, c.Name)
	}
	return g
}

// conditionIs checks one condition exactly: type, status, reason, and message parts in order.
func conditionIs(obj *lxcv1.LXCContainer, condType string, status metav1.ConditionStatus, reason string, parts ...string) func() error {
	return func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if err := testkit.CheckCondition(obj.Status.Conditions, condType, status, reason); err != nil {
			return fmt.Errorf("%s: %w", obj.Name, err)
		}
		c := conditions.Get(obj, condType)
		rest := c.Message
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				return fmt.Errorf("%s: %s message %q lacks %q (in order)", obj.Name, condType, c.Message, p)
			}
			rest = rest[i+len(p):]
		}
		return nil
	}
}

// readyWithin waits for Ready=True.
func readyWithin(t testing.TB, c *lxcv1.LXCContainer, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, conditionIs(c, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
}

// runIDs lists the IDs of a guest's runs in start order.
func runIDs(g *fake.Guest) []string {
	var out []string
	for _, r := range g.Runs() {
		out = append(out, r.ID)
	}
	return out
}

// runsOf lists a guest's runs whose ID starts with prefix.
func runsOf(g *fake.Guest, prefix string) []fake.RunRecord {
	var out []fake.RunRecord
	for _, r := range g.Runs() {
		if strings.HasPrefix(r.ID, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func script(name, content string) lxcv1.Script {
	return lxcv1.Script{Name: name, Content: ptr(content)}
}
