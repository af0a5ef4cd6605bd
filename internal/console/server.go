// Package console is the web console: pages, actions, the live stream and the creation
// wizard, each served as the signed-in user. The console holds no permission of its own.
package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"templatemanager.dev/lxc-template-manager/internal/console/auth"
	"templatemanager.dev/lxc-template-manager/internal/console/kube"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
)

// Options configure a Server.
type Options struct {
	// Config gives the API server's address and CA; its credentials are never used.
	Config *rest.Config
	// CookieKey seals session cookies (32 bytes).
	CookieKey []byte
	// SecureCookies marks cookies Secure.
	SecureCookies bool
	// History, when set, gives Events older than the API server keeps (the status mirror).
	History EventHistory
	// Log receives one line per refused token or failed render; never a token.
	Log *slog.Logger
}

// Server serves the console.
type Server struct {
	sealer  *auth.Sealer
	users   *kube.Factory
	history EventHistory
	log     *slog.Logger
	mux     *http.ServeMux
}

// New builds a Server.
func New(o Options) (*Server, error) {
	sealer, err := auth.NewSealer(o.CookieKey, o.SecureCookies)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{sealer: sealer, users: kube.NewFactory(o.Config, 2*time.Minute), history: o.History, log: log, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /static/", pages.Static())
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /signin", s.signinPage)
	m.HandleFunc("POST /signin", s.signin)
	m.HandleFunc("POST /signout", s.signout)

	m.HandleFunc("GET /{$}", s.as(s.overview))
	m.HandleFunc("GET /containers", s.as(s.containers))
	m.HandleFunc("GET /containers/{ns}/{name}", s.as(s.container))
	m.HandleFunc("POST /containers/{ns}/{name}/actions/{action}", s.as(s.action))
	m.HandleFunc("POST /containers/{ns}/{name}/secret/reveal", s.as(s.reveal))
	m.HandleFunc("GET /containers/{ns}/{name}/live", s.as(s.containerLive))
	m.HandleFunc("GET /live", s.as(s.listLive))
	m.HandleFunc("GET /templates", s.as(s.templates))
	m.HandleFunc("GET /templates/{ns}/{name}", s.as(s.template))
	m.HandleFunc("GET /buckets", s.as(s.buckets))
	m.HandleFunc("GET /buckets/{ns}/{name}", s.as(s.bucket))
	m.HandleFunc("GET /new", s.as(s.wizard))
	m.HandleFunc("POST /new", s.as(s.wizardCreate))
}

// request is one request of a signed-in user.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	sess auth.Session
	user *kube.User
	ctx  context.Context
}

// as runs h as the request's user; without a token it sends the browser to sign in.
func (s *Server) as(h func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sealer.FromRequest(r)
		if sess.Token == "" {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		user, err := s.users.For(r.Context(), sess.Token)
		if err != nil {
			if errors.Is(err, kube.ErrUnauthorized) {
				s.expired(w, r, sess)
				return
			}
			pages.Render(w, http.StatusBadGateway, "error", pages.Page{Title: "API server unavailable", Content: err.Error()})
			return
		}
		h(&request{w: w, r: r, sess: sess, user: user, ctx: r.Context()})
	}
}

// expired ends a session whose token the API server refused.
func (s *Server) expired(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	s.users.Forget(sess.Token)
	s.log.Info("Token refused by the API server", "token", auth.TokenHash(sess.Token), "path", r.URL.Path)
	if sess.Source == auth.Cookie {
		s.sealer.ClearCookie(w)
	}
	http.Redirect(w, r, "/signin?expired=1", http.StatusSeeOther)
}

// page is the frame of a page for the request's user, with the flash of the last action.
func (s *Server) page(rq *request, title string, content any) pages.Page {
	p := pages.Page{Title: title, User: rq.user.Name, CSRF: s.sealer.CSRF(rq.sess), Content: content}
	if kind, msg, ok := s.sealer.TakeFlash(rq.w, rq.r); ok {
		p.Flash = &pages.Flash{Kind: kind, Message: msg}
	}
	return p
}

// fail shows an API error: a refused token ends the session; anything else is shown in the
// API server's words with its status code.
func (s *Server) fail(rq *request, title string, err error) {
	if apierrors.IsUnauthorized(err) {
		s.expired(rq.w, rq.r, rq.sess)
		return
	}
	code := http.StatusBadGateway
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 400 {
		code = int(status.Status().Code)
	}
	p := s.page(rq, title, kube.Message(err))
	pages.Render(rq.w, code, "error", p)
}

// flashBack sets the flash and sends the browser to path.
func (s *Server) flashBack(rq *request, path, kind, message string) {
	s.sealer.SetFlash(rq.w, kind, message)
	http.Redirect(rq.w, rq.r, path, http.StatusSeeOther)
}

type signinView struct {
	Next, Error string
	Expired     bool
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	v := signinView{Next: safeNext(r.URL.Query().Get("next")), Expired: r.URL.Query().Get("expired") != ""}
	pages.Render(w, http.StatusOK, "signin", pages.Page{Title: "Sign in", Content: v})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	if token == "" {
		pages.Render(w, http.StatusBadRequest, "signin", pages.Page{Title: "Sign in", Content: signinView{Next: next, Error: "token: paste a bearer token"}})
		return
	}
	if _, err := s.users.For(r.Context(), token); err != nil {
		msg := "token: " + err.Error()
		code := http.StatusBadGateway
		if errors.Is(err, kube.ErrUnauthorized) {
			code = http.StatusUnauthorized
		}
		pages.Render(w, code, "signin", pages.Page{Title: "Sign in", Content: signinView{Next: next, Error: msg}})
		return
	}
	if err := s.sealer.SetCookie(w, token); err != nil {
		http.Error(w, "sealing the session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	sess := s.sealer.FromRequest(r)
	if sess.Source == auth.Cookie && s.sealer.CheckCSRF(sess, r.PostFormValue("csrf")) {
		s.users.Forget(sess.Token)
		s.sealer.ClearCookie(w)
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
