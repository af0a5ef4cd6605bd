package proxmox

import "sync"

// Factory hands out one client per cluster and keeps it across reconciles, so connections and
// ticket sessions are reused. A cluster's client is rebuilt when its settings change (endpoint,
// credentials, TLS, timeouts or retries); secrets are compared only as hashes.
type Factory struct {
	opts    []Option
	mu      sync.Mutex
	clients map[string]cachedClient
}

type cachedClient struct {
	fingerprint string
	client      *APIClient
}

// NewFactory returns a factory whose clients get opts (typically WithMetrics).
func NewFactory(opts ...Option) *Factory {
	return &Factory{opts: opts, clients: map[string]cachedClient{}}
}

// ClientFor returns the client for the named cluster, building it when there is none or the
// settings changed since it was built.
func (f *Factory) ClientFor(cluster string, s Settings) (Client, error) {
	fp := s.fingerprint()
	f.mu.Lock()
	defer f.mu.Unlock()
	if cached, ok := f.clients[cluster]; ok {
		if cached.fingerprint == fp {
			return cached.client, nil
		}
		cached.client.Close()
		delete(f.clients, cluster)
	}
	c, err := New(s, f.opts...)
	if err != nil {
		return nil, err
	}
	f.clients[cluster] = cachedClient{fingerprint: fp, client: c}
	return c, nil
}

// Forget drops the named cluster's client, e.g. when the ProxmoxCluster is deleted.
func (f *Factory) Forget(cluster string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cached, ok := f.clients[cluster]; ok {
		cached.client.Close()
		delete(f.clients, cluster)
	}
}
