package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/kube"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
)

// RestartRequestAnnotation asks the controller to reboot the container once per new value.
const RestartRequestAnnotation = "lxc.templatemanager.dev/restart-requested-at"

// SecretKey is one key of the credentials Secret; its value only once revealed.
type SecretKey struct {
	Key, Value string
	Revealed   bool
}

// SecretView is the credentials Secret as the detail page shows it.
type SecretView struct {
	Name, Error string
	Keys        []SecretKey
	Revealed    bool
}

// Protection is one LXCSnapshot or LXCBackup of the container.
type Protection struct {
	Name, Ready, Detail string
	When                time.Time
}

type detailView struct {
	C               *lxcv1.LXCContainer
	Progress        pages.Progress
	SpecYAML        string
	Secret          *SecretView
	Events          []pages.Event
	Snapshots       []Protection
	Backups         []Protection
	ProtectionError string
	CanPatch        bool
	CanDelete       bool
	Actions         []string
}

func containerKey(r *http.Request) client.ObjectKey {
	return client.ObjectKey{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
}

func (s *Server) container(rq *request) { s.renderContainer(rq, false) }

func (s *Server) reveal(rq *request) {
	if !s.sealer.CheckCSRF(rq.sess, rq.r.PostFormValue("csrf")) {
		s.flashBack(rq, containerPath(containerKey(rq.r)), "error", "The form was stale: reload the page and try again.")
		return
	}
	s.renderContainer(rq, true)
}

func containerPath(key client.ObjectKey) string {
	return "/containers/" + key.Namespace + "/" + key.Name
}

// renderContainer reads the container and what belongs to it, each as the user, in parallel.
func (s *Server) renderContainer(rq *request, reveal bool) {
	key := containerKey(rq.r)
	c := &lxcv1.LXCContainer{}
	if err := rq.user.Client.Get(rq.ctx, key, c); err != nil {
		s.fail(rq, "Container "+key.String(), err)
		return
	}
	v := detailView{C: c, Progress: pages.ProgressOf(c, time.Now()), Actions: []string{"start", "stop", "restart", "reconcile"}}
	spec, _ := yaml.Marshal(c.Spec)
	v.SpecYAML = string(spec)

	var wg sync.WaitGroup
	wg.Go(func() { v.CanPatch = rq.user.Can(rq.ctx, "patch", "lxccontainers", key.Namespace) })
	wg.Go(func() { v.CanDelete = rq.user.Can(rq.ctx, "delete", "lxccontainers", key.Namespace) })
	wg.Go(func() { v.Events = s.events(rq.ctx, rq.user, c) })
	wg.Go(func() { v.Snapshots, v.Backups, v.ProtectionError = protections(rq.ctx, rq.user, c) })
	if ref := c.Status.CredentialsSecretRef; ref != nil {
		wg.Go(func() { v.Secret = secretView(rq.ctx, rq.user, key.Namespace, ref.Name, reveal) })
	}
	wg.Wait()

	p := s.page(rq, "Container "+key.String(), v)
	p.Live = containerPath(key) + "/live"
	pages.Render(rq.w, http.StatusOK, "container", p)
}

// events are the Events about c the API server keeps, and older ones from the history when set.
func (s *Server) events(ctx context.Context, u *kube.User, c *lxcv1.LXCContainer) []pages.Event {
	var list corev1.EventList
	err := u.Client.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingFields{"involvedObject.uid": string(c.UID)})
	events := pages.EventsOf(list.Items)
	// The mirror is read with the console's own credentials: only for a user the API server
	// lets read this namespace's Events.
	if s.history != nil && err == nil {
		older, err := s.history.Events(ctx, c.Namespace, c.Name, c.UID)
		if err == nil {
			events = mergeEvents(events, older)
		}
	}
	return events
}

// mergeEvents adds the history's events the API server no longer keeps, newest first.
func mergeEvents(live, older []pages.Event) []pages.Event {
	seen := map[string]bool{}
	for _, e := range live {
		seen[e.Reason+"\x00"+e.Message] = true
	}
	for _, e := range older {
		if !seen[e.Reason+"\x00"+e.Message] {
			live = append(live, e)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].Last.After(live[j].Last) })
	return live
}

func protections(ctx context.Context, u *kube.User, c *lxcv1.LXCContainer) (snaps, backups []Protection, problem string) {
	var sl lxcv1.LXCSnapshotList
	if err := u.Client.List(ctx, &sl, client.InNamespace(c.Namespace)); err != nil {
		problem = "Snapshots: " + kube.Message(err)
	}
	for _, sn := range sl.Items {
		if sn.Spec.ContainerRef.Name != c.Name {
			continue
		}
		p := Protection{Name: sn.Name, Ready: readyOf(sn.Status.Conditions), Detail: sn.Spec.Description}
		if sn.Status.CreationTime != nil {
			p.When = sn.Status.CreationTime.Time
		}
		snaps = append(snaps, p)
	}
	var bl lxcv1.LXCBackupList
	if err := u.Client.List(ctx, &bl, client.InNamespace(c.Namespace)); err != nil {
		problem += " Backups: " + kube.Message(err)
	}
	for _, b := range bl.Items {
		if b.Spec.ContainerRef.Name != c.Name {
			continue
		}
		p := Protection{Name: b.Name, Ready: readyOf(b.Status.Conditions), Detail: b.Status.Archive}
		if b.Status.CompletionTime != nil {
			p.When = b.Status.CompletionTime.Time
		}
		backups = append(backups, p)
	}
	return snaps, backups, problem
}

func readyOf(conds []metav1.Condition) string {
	if c := apimeta.FindStatusCondition(conds, lxcv1.ReadyCondition); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func secretView(ctx context.Context, u *kube.User, ns, name string, reveal bool) *SecretView {
	v := &SecretView{Name: name, Revealed: reveal}
	sec := &corev1.Secret{}
	if err := u.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
		v.Error = kube.Message(err)
		return v
	}
	for k, val := range sec.Data {
		sk := SecretKey{Key: k, Revealed: reveal}
		if reveal {
			sk.Value = string(val)
		}
		v.Keys = append(v.Keys, sk)
	}
	sort.Slice(v.Keys, func(i, j int) bool { return v.Keys[i].Key < v.Keys[j].Key })
	return v
}

// action makes one change to the container as the user and reports it on the next page.
func (s *Server) action(rq *request) {
	key := containerKey(rq.r)
	back := containerPath(key)
	act := rq.r.PathValue("action")
	if !s.sealer.CheckCSRF(rq.sess, rq.r.PostFormValue("csrf")) {
		s.flashBack(rq, back, "error", "The form was stale: reload the page and try again.")
		return
	}
	c := &lxcv1.LXCContainer{}
	c.Namespace, c.Name = key.Namespace, key.Name
	var patch string
	var done string
	now := time.Now().UTC().Format(time.RFC3339Nano)
	switch act {
	case "start", "stop":
		state := lxcv1.PowerStateRunning
		if act == "stop" {
			state = lxcv1.PowerStateStopped
		}
		patch = fmt.Sprintf(`{"spec":{"powerState":%q}}`, state)
		done = fmt.Sprintf("%s: spec.powerState set to %s.", act, state)
	case "restart":
		patch = fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, RestartRequestAnnotation, now)
		done = "restart: requested; the controller reboots the container."
	case "reconcile":
		patch = fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, lxcv1.ReconcileRequestAnnotation, now)
		done = "reconcile: requested; the controller reconciles the container now."
	case "delete":
		if rq.r.PostFormValue("confirm") != key.Name {
			s.flashBack(rq, back, "error", fmt.Sprintf("delete: confirm must be the container's name, %q.", key.Name))
			return
		}
		if err := rq.user.Client.Delete(rq.ctx, c); err != nil {
			s.refused(rq, back, act, err)
			return
		}
		s.flashBack(rq, "/containers?namespace="+key.Namespace, "ok", fmt.Sprintf("delete: %s is being deleted.", key))
		return
	default:
		s.flashBack(rq, back, "error", fmt.Sprintf("action: %q is not start, stop, restart, reconcile or delete.", act))
		return
	}
	if err := rq.user.Client.Patch(rq.ctx, c, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		s.refused(rq, back, act, err)
		return
	}
	s.flashBack(rq, back, "ok", done)
}

// refused reports an action the API server refused, in its own words.
func (s *Server) refused(rq *request, back, act string, err error) {
	if apierrors.IsUnauthorized(err) {
		s.expired(rq.w, rq.r, rq.sess)
		return
	}
	s.flashBack(rq, back, "error", act+" refused: "+kube.Message(err))
}
