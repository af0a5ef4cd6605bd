package console

import (
	"bytes"
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/live"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
)

const pingEvery = 15 * time.Second

// progressFragments re-renders what a detail page shows of c's progress.
func progressFragments(c *lxcv1.LXCContainer) (map[string]string, error) {
	p := pages.ProgressOf(c, time.Now())
	out := map[string]string{}
	for _, name := range []string{"timeline", "phase", "ready", "services", "scripts", "where"} {
		var b bytes.Buffer
		if err := pages.Fragment(&b, name, p); err != nil {
			return nil, err
		}
		out[name] = b.String()
	}
	return out, nil
}

// watchFrom watches list from resourceVersion rv with the given options, as the user.
func watchFrom(ctx context.Context, c client.WithWatch, list client.ObjectList, ns string, sel fields.Selector, rv string) (watch.Interface, error) {
	opts := &client.ListOptions{Namespace: ns, FieldSelector: sel, Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}}
	return c.Watch(ctx, list, opts)
}

// containerLive streams a container's progress: a watch on it and on its Events, made as the
// user. Each change sends the re-rendered fragments at once.
func (s *Server) containerLive(rq *request) {
	key := containerKey(rq.r)
	c := &lxcv1.LXCContainer{}
	if err := rq.user.Client.Get(rq.ctx, key, c); err != nil {
		s.fail(rq, "Container "+key.String(), err)
		return
	}
	stream, err := live.Open(rq.w)
	if err != nil {
		return
	}
	ctx := rq.ctx
	sendContainer := func(c *lxcv1.LXCContainer) error {
		frags, err := progressFragments(c)
		if err != nil {
			return err
		}
		return stream.Send("fragments", frags)
	}
	sendEvents := func() error {
		var b bytes.Buffer
		if err := pages.Fragment(&b, "events", s.events(ctx, rq.user, c)); err != nil {
			return err
		}
		return stream.Send("fragments", map[string]string{"events": b.String()})
	}
	// The page may be older than this stream: start from the truth.
	if sendContainer(c) != nil {
		return
	}
	byName := fields.OneTermEqualSelector("metadata.name", key.Name)
	byUID := fields.OneTermEqualSelector("involvedObject.uid", string(c.UID))
	rv := c.ResourceVersion
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for ctx.Err() == nil {
		cw, err := watchFrom(ctx, rq.user.Client, &lxcv1.LXCContainerList{}, key.Namespace, byName, rv)
		if err != nil {
			s.streamFailed(stream, err)
			return
		}
		// Events are extra: a user who may not watch them still gets the container's progress.
		var evc <-chan watch.Event
		ew, err := watchFrom(ctx, rq.user.Client, &corev1.EventList{}, key.Namespace, byUID, "")
		if err == nil {
			evc = ew.ResultChan()
		}
		rv = s.follow(ctx, stream, cw, evc, ping.C, func(obj *lxcv1.LXCContainer) error {
			c = obj
			return sendContainer(obj)
		}, sendEvents, rv)
		cw.Stop()
		if ew != nil {
			ew.Stop()
		}
		if rv == "" {
			return
		}
	}
}

// follow relays one watch until it ends; it returns the resourceVersion to resume from, or
// "" when the stream is over (browser gone, object deleted, token refused).
func (s *Server) follow(ctx context.Context, stream *live.Stream, cw watch.Interface, evc <-chan watch.Event, ping <-chan time.Time,
	onContainer func(*lxcv1.LXCContainer) error, onEvent func() error, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-ping:
			if stream.Ping() != nil {
				return ""
			}
		case ev, ok := <-evc:
			if !ok {
				evc = nil
				continue
			}
			if ev.Type != watch.Bookmark && ev.Type != watch.Error && onEvent() != nil {
				return ""
			}
		case ev, ok := <-cw.ResultChan():
			if !ok {
				return rv // the API server ended the watch: resume
			}
			switch ev.Type {
			case watch.Error:
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == 401 {
					_ = stream.Send("signin", map[string]string{})
					return ""
				}
				return rv
			case watch.Deleted:
				_ = stream.Send("gone", map[string]string{})
				return ""
			case watch.Bookmark:
				if obj, ok := ev.Object.(*lxcv1.LXCContainer); ok {
					rv = obj.ResourceVersion
				}
			default:
				obj, ok := ev.Object.(*lxcv1.LXCContainer)
				if !ok {
					continue
				}
				rv = obj.ResourceVersion
				if onContainer(obj) != nil {
					return ""
				}
			}
		}
	}
}

// streamFailed tells the page why its stream ends.
func (s *Server) streamFailed(stream *live.Stream, err error) {
	if apierrors.IsUnauthorized(err) {
		_ = stream.Send("signin", map[string]string{})
		return
	}
	_ = stream.Send("problem", map[string]string{"message": err.Error()})
}

// rowChange is a list row re-rendered, or gone (HTML empty).
type rowChange struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	HTML      string `json:"html"`
}

// listLive streams changes of the containers of a namespace (or of all the user may list):
// rows for the list page, "changed" for the overview, which fetches itself anew.
func (s *Server) listLive(rq *request) {
	ns := rq.r.URL.Query().Get("namespace")
	overview := rq.r.URL.Query().Get("view") == "overview"
	// A one-item list gives the resourceVersion to watch from, and checks the namespace.
	var first lxcv1.LXCContainerList
	ns, err := s.listLimited(rq, &first, ns)
	if err != nil {
		s.fail(rq, "Live", err)
		return
	}
	stream, err := live.Open(rq.w)
	if err != nil {
		return
	}
	ctx := rq.ctx
	rv := first.ResourceVersion
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for ctx.Err() == nil {
		w, err := watchFrom(ctx, rq.user.Client, &lxcv1.LXCContainerList{}, ns, nil, rv)
		if err != nil {
			s.streamFailed(stream, err)
			return
		}
		rv = s.followList(ctx, stream, w, ping.C, overview, rv)
		w.Stop()
		if rv == "" {
			return
		}
	}
}

func (s *Server) listLimited(rq *request, list *lxcv1.LXCContainerList, ns string) (string, error) {
	err := rq.user.Client.List(rq.ctx, list, client.InNamespace(ns), client.Limit(1))
	if ns == "" && apierrors.IsForbidden(err) && rq.user.Home != "" {
		ns = rq.user.Home
		err = rq.user.Client.List(rq.ctx, list, client.InNamespace(ns), client.Limit(1))
	}
	return ns, err
}

func (s *Server) followList(ctx context.Context, stream *live.Stream, w watch.Interface, ping <-chan time.Time, overview bool, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-ping:
			if stream.Ping() != nil {
				return ""
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			if ev.Type == watch.Error {
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == 401 {
					_ = stream.Send("signin", map[string]string{})
					return ""
				}
				return rv
			}
			obj, ok := ev.Object.(*lxcv1.LXCContainer)
			if !ok {
				continue
			}
			rv = obj.ResourceVersion
			if ev.Type == watch.Bookmark {
				continue
			}
			var err error
			switch {
			case overview:
				err = stream.Send("changed", map[string]string{"namespace": obj.Namespace, "name": obj.Name})
			case ev.Type == watch.Deleted:
				err = stream.Send("row", rowChange{Namespace: obj.Namespace, Name: obj.Name})
			default:
				var b bytes.Buffer
				if err = pages.Fragment(&b, "row", pages.RowOf(obj)); err == nil {
					err = stream.Send("row", rowChange{Namespace: obj.Namespace, Name: obj.Name, HTML: b.String()})
				}
			}
			if err != nil {
				return ""
			}
		}
	}
}
