package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestServicesPhase covers the edges of ServicesDiscovered on guest stand-ins: scripts start
// services and leave credentials files with fake-guest directives.
func TestServicesPhase(t *testing.T) {
	f := newGuestFixture(t, "phase-services")
	for i, tc := range []struct {
		name     string
		template func(*lxcv1.LXCTemplateSpec)
		run      func(t *testing.T, c *lxcv1.LXCContainer)
	}{{
		name: "promised missing: → ServicesDiscovered=False ServicesMissing naming each missing service, not Ready",
		template: func(s *lxcv1.LXCTemplateSpec) {
			s.Services = []lxcv1.ServicePromise{{Name: "web", Port: 8080}, {Name: "dns", Port: 53, Protocol: lxcv1.ProtocolUDP}, {Name: "db", Port: 5432}}
			s.Scripts = []lxcv1.Script{script("web", "# fake-guest: listen=tcp/8080/nginx listen=tcp/127.0.0.1:5432/postgres\n")}
		},
		run: servicesPromisedMissing,
	}, {
		name: "found: → ServicesDiscovered=True with each service named after its promise",
		template: func(s *lxcv1.LXCTemplateSpec) {
			s.Services = []lxcv1.ServicePromise{{Name: "web", Port: 80}}
			s.Scripts = []lxcv1.Script{script("web", "# fake-guest: listen=tcp/80/nginx\n")}
		},
		run: servicesFound,
	}, {
		name: "credentials copied: → Secret <name>-credentials holds the files' keys, status names it",
		template: func(s *lxcv1.LXCTemplateSpec) {
			s.Scripts = []lxcv1.Script{script("db", "# fake-guest: listen=tcp/5432/postgres credentials=postgres.env:DB_PASSWORD=s3cret credentials=postgres.env:DB_USER=app\n")}
		},
		run: servicesCredentialsCopied,
	}, {
		name: "deleted credentials Secret: Ready → Secret written again",
		template: func(s *lxcv1.LXCTemplateSpec) {
			s.Scripts = []lxcv1.Script{script("db", "# fake-guest: credentials=app.env:TOKEN=t0ken\n")}
		},
		run: servicesCredentialsWrittenAgain,
	}, {
		name: "credentials printed before discovery: → the failing script's output, in status and its Event, has them redacted",
		template: func(s *lxcv1.LXCTemplateSpec) {
			s.Scripts = []lxcv1.Script{
				script("10-db", "# fake-guest: credentials=app.env:DB_PASSWORD=printed-before-discovery\n"),
				script("20-show", "# fake-guest-print: the password is printed-before-discovery\n# fake-guest: exit=1\n"),
			}
		},
		run: servicesCredentialsPrintedBeforeDiscovery,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("sv%d", i)
			tmpl := f.templateWith(t, name, tc.template)
			c := f.containerOf(name, tmpl)
			create(t, c)
			tc.run(t, c)
		})
	}
}

func servicesPromisedMissing(t *testing.T, c *lxcv1.LXCContainer) {
	eventually(t, time.Minute, conditionIs(c, lxcv1.ServicesDiscoveredCondition, metav1.ConditionFalse, lxcv1.ServicesMissingReason,
		"promised services not found: dns: nothing listens on udp port 53; db: tcp port 5432 listens on loopback only, unreachable from outside"))
	if err := conditionIs(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.ServicesMissingReason)(); err != nil {
		t.Error(err)
	}
}

func servicesFound(t *testing.T, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	if err := conditionIs(c, lxcv1.ServicesDiscoveredCondition, metav1.ConditionTrue, lxcv1.SucceededReason, "2 services found, all 1 promised present")(); err != nil {
		t.Error(err)
	}
	want := map[string]string{"web": "http://" + c.Status.IPAddress + ":80", "ssh": "tcp://" + c.Status.IPAddress + ":22"}
	if len(c.Status.Services) != len(want) {
		t.Fatalf("status.services = %+v", c.Status.Services)
	}
	for _, s := range c.Status.Services {
		if want[s.Name] != s.URL {
			t.Errorf("service %s has URL %q, want %q", s.Name, s.URL, want[s.Name])
		}
	}
	if c.Status.CredentialsSecretRef != nil {
		t.Errorf("credentialsSecretRef = %v without credentials files", c.Status.CredentialsSecretRef)
	}
}

func servicesCredentialsCopied(t *testing.T, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	if ref := c.Status.CredentialsSecretRef; ref == nil || ref.Name != c.Name+"-credentials" {
		t.Fatalf("credentialsSecretRef = %v", ref)
	}
	s, err := credentialsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["DB_PASSWORD"]) != "s3cret" || string(s.Data["DB_USER"]) != "app" || len(s.Data) != 2 {
		t.Errorf("Secret data keys %v", keys(s.Data))
	}
	if !metav1.IsControlledBy(s, c) {
		t.Error("the credentials Secret is not owned by the container")
	}
}

func servicesCredentialsWrittenAgain(t *testing.T, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	s, err := credentialsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(testCtx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		again, err := credentialsOf(c)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the credentials Secret was not written again")
		}
		if err != nil {
			return err
		}
		if again.UID == s.UID || string(again.Data["TOKEN"]) != "t0ken" {
			return fmt.Errorf("the Secret is the old one or lacks TOKEN (keys %v)", keys(again.Data))
		}
		return nil
	})
	readyWithin(t, c, time.Minute)
}

// credentialsOf reads the credentials Secret of c.
func credentialsOf(c *lxcv1.LXCContainer) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := k8s.Get(testCtx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name + "-credentials"}, s)
	return s, err
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func servicesCredentialsPrintedBeforeDiscovery(t *testing.T, c *lxcv1.LXCContainer) {
	mark := managerLog.Mark()
	eventually(t, time.Minute, condition(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, lxcv1.ScriptFailedReason))
	if c.Status.CredentialsSecretRef != nil {
		t.Fatalf("discovery ran (%+v): the credentials were not printed before it", c.Status.CredentialsSecretRef)
	}
	var tail string
	for _, s := range c.Status.Scripts {
		if s.Name == "20-show" {
			tail = s.OutputTail
		}
	}
	if !strings.Contains(tail, "the password is [redacted]") {
		t.Errorf("the failing script's output tail is %q, want the password redacted", tail)
	}
	assertNoSecretInObject(t, c, mark, map[string]string{"a credential a script saved": "printed-before-discovery"})
}
