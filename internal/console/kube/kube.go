// Package kube makes API clients that act as the signed-in user: the API server's address and
// CA come from the console's kubeconfig, the credentials only from the user's bearer token.
package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/auth"
)

// Scheme holds the kinds the console reads and writes.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := lxcv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// mapper knows the scopes of the kinds the console uses, so that a user's client needs no
// discovery round trips (which would also be made as that user, on every new session).
var mapper = func() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	gv := lxcv1.GroupVersion
	for _, kind := range []string{"LXCContainer", "LXCTemplate", "PackageBucket", "LXCSnapshot", "LXCBackup", "LXCRestore"} {
		m.Add(gv.WithKind(kind), meta.RESTScopeNamespace)
		m.Add(gv.WithKind(kind+"List"), meta.RESTScopeNamespace)
	}
	m.Add(gv.WithKind("ProxmoxCluster"), meta.RESTScopeRoot)
	m.Add(gv.WithKind("ProxmoxClusterList"), meta.RESTScopeRoot)
	core := corev1.SchemeGroupVersion
	for _, kind := range []string{"Event", "Secret"} {
		m.Add(core.WithKind(kind), meta.RESTScopeNamespace)
		m.Add(core.WithKind(kind+"List"), meta.RESTScopeNamespace)
	}
	m.Add(core.WithKind("Namespace"), meta.RESTScopeRoot)
	m.Add(core.WithKind("NamespaceList"), meta.RESTScopeRoot)
	m.Add(authzv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"), meta.RESTScopeRoot)
	m.Add(authnv1.SchemeGroupVersion.WithKind("SelfSubjectReview"), meta.RESTScopeRoot)
	return m
}()

// User is a client acting as one token's user, and who the API server says that user is.
type User struct {
	Client client.WithWatch
	Name   string
	Groups []string
	// Home is the namespace of a ServiceAccount user, where lists go when the user may not
	// list across namespaces.
	Home string

	made time.Time
}

// Factory makes and briefly caches clients per token, keyed by the token's hash.
type Factory struct {
	base *rest.Config
	ttl  time.Duration

	mu    sync.Mutex
	users map[string]*User
}

// NewFactory keeps only the API server's address and TLS trust of cfg: the console acts with
// no credentials of its own.
func NewFactory(cfg *rest.Config, ttl time.Duration) *Factory {
	base := &rest.Config{
		Host:    cfg.Host,
		APIPath: cfg.APIPath,
		TLSClientConfig: rest.TLSClientConfig{
			Insecure:   cfg.Insecure,
			ServerName: cfg.ServerName,
			CAFile:     cfg.CAFile,
			CAData:     cfg.CAData,
		},
		QPS:       50,
		Burst:     100,
		Timeout:   30 * time.Second,
		UserAgent: "lxctm-console",
	}
	return &Factory{base: base, ttl: ttl, users: map[string]*User{}}
}

// ErrUnauthorized: the API server does not accept the token (expired, revoked, unknown).
var ErrUnauthorized = errors.New("the API server does not accept this token")

// For returns the user of token, asking the API server who it is on first use.
func (f *Factory) For(ctx context.Context, token string) (*User, error) {
	key := auth.TokenHash(token)
	f.mu.Lock()
	u, ok := f.users[key]
	if ok && time.Since(u.made) > f.ttl {
		delete(f.users, key)
		ok = false
	}
	f.mu.Unlock()
	if ok {
		return u, nil
	}
	cfg := rest.CopyConfig(f.base)
	cfg.BearerToken = token
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("building a client: %w", err)
	}
	review := &authnv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		if apierrors.IsUnauthorized(err) {
			return nil, ErrUnauthorized
		}
		return nil, fmt.Errorf("asking the API server who this token is: %w", err)
	}
	u = &User{Client: c, Name: review.Status.UserInfo.Username, Groups: review.Status.UserInfo.Groups, made: time.Now()}
	if rest, ok := strings.CutPrefix(u.Name, "system:serviceaccount:"); ok {
		u.Home, _, _ = strings.Cut(rest, ":")
	}
	f.mu.Lock()
	// Tokens seen once (expired sessions, rotated tokens) must not pile up.
	for k, old := range f.users {
		if time.Since(old.made) > f.ttl {
			delete(f.users, k)
		}
	}
	f.users[key] = u
	f.mu.Unlock()
	return u, nil
}

// Forget drops the cached client of token, after the API server refused it.
func (f *Factory) Forget(token string) {
	f.mu.Lock()
	delete(f.users, auth.TokenHash(token))
	f.mu.Unlock()
}

// Can asks the API server whether the user may do verb on resource in namespace.
func (u *User) Can(ctx context.Context, verb, resource, namespace string) bool {
	group := lxcv1.GroupVersion.Group
	if resource == "secrets" {
		group = ""
	}
	r := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: group, Resource: resource}}}
	if err := u.Client.Create(ctx, r); err != nil {
		return false
	}
	return r.Status.Allowed
}

// Message is what a page shows for an API error: the API server's own words, which for a
// refusal is the RBAC text naming the user, verb and resource.
func Message(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if m := status.Status().Message; m != "" {
			return m
		}
	}
	return err.Error()
}

// GVK is the kind of an object of the scheme.
func GVK(obj runtime.Object) schema.GroupVersionKind {
	gvks, _, err := Scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return schema.GroupVersionKind{}
	}
	return gvks[0]
}
