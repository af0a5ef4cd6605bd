package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// DSNEnv is the environment variable holding the mirror's PostgreSQL connection string.
const DSNEnv = "LXCTM_MIRROR_DSN"

// Defaults of Options.
const (
	DefaultResyncInterval = 10 * time.Minute
	DefaultEventRetention = 30 * 24 * time.Hour
	DefaultBatchSize      = 500
	DefaultFlushDelay     = 20 * time.Millisecond
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultDashboardUser  = "root@pam"
)

// Options configure a Mirror. Zero values take the defaults.
type Options struct {
	// DSN is the PostgreSQL connection string (libpq keyword/value or URL form).
	DSN string
	// DashboardUser is the Proxmox user the dashboard signs in as (infrahaus lists the nodes of
	// the signed-in user); every node row names it. Default DefaultDashboardUser.
	DashboardUser string
	// ResyncInterval is how often every row is compared with the cache.
	ResyncInterval time.Duration
	// EventRetention is how long container_events keeps a row after the Event happened.
	EventRetention time.Duration
	// BatchSize is the most changes written in one transaction.
	BatchSize int
	// FlushDelay lets changes that come together gather into one transaction.
	FlushDelay time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts to reach the database.
	MinBackoff, MaxBackoff time.Duration
	Metrics                *Metrics
	Log                    logr.Logger
}

// CacheByObject narrows the manager's cache for the kinds only the mirror reads: of all Events,
// it caches those about LXCContainers.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&eventsv1.Event{}: {Field: fields.OneTermEqualSelector("regarding.kind", "LXCContainer")},
	}
}

// Mirror keeps the database in step with the cache. It is a manager runnable that runs only on
// the elected leader.
type Mirror struct {
	opts  Options
	cache cache.Cache
	queue *queue
	// countedAt is when the row-count metric was last refreshed.
	countedAt time.Time
}

// New returns a Mirror reading from c, the manager's shared cache.
func New(c cache.Cache, opts Options) (*Mirror, error) {
	if opts.DSN == "" {
		return nil, fmt.Errorf("the mirror needs a database: set %s", DSNEnv)
	}
	if opts.DashboardUser == "" {
		opts.DashboardUser = DefaultDashboardUser
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.EventRetention <= 0 {
		opts.EventRetention = DefaultEventRetention
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushDelay <= 0 {
		opts.FlushDelay = DefaultFlushDelay
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		opts.Metrics = m
	}
	return &Mirror{opts: opts, cache: c, queue: newQueue(opts.Metrics.QueueDepth.Set)}, nil
}

// NeedLeaderElection makes the manager start the mirror only on the leader, so one replica writes.
func (m *Mirror) NeedLeaderElection() bool { return true }

// Start runs the mirror until ctx ends. Database problems never end it: they are logged,
// counted, and retried with back-off.
func (m *Mirror) Start(ctx context.Context) error {
	log := m.opts.Log
	unwatch, err := m.watch(ctx)
	if err != nil {
		return fmt.Errorf("watching the cache for the mirror: %w", err)
	}
	defer unwatch()

	backoff := m.opts.MinBackoff
	for {
		worked, err := m.session(ctx)
		m.opts.Metrics.Connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if worked {
			backoff = m.opts.MinBackoff
		}
		m.opts.Metrics.WriteErrors.Inc()
		log.Error(err, "The status mirror cannot write to its database; retrying", "retryIn", backoff.String(),
			"pending", m.queue.len())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if !worked {
			backoff = min(2*backoff, m.opts.MaxBackoff)
		}
	}
}

// watch subscribes to the shared informers; the handlers only note what changed.
func (m *Mirror) watch(ctx context.Context) (func(), error) {
	var undo []func()
	unwatch := func() {
		for _, u := range undo {
			u()
		}
	}
	for _, w := range []struct {
		obj  client.Object
		kind kind
	}{{&lxcv1.PackageBucket{}, kindBucket}, {&lxcv1.LXCTemplate{}, kindTemplate}, {&lxcv1.LXCContainer{}, kindContainer}} {
		inf, err := m.cache.GetInformer(ctx, w.obj)
		if err != nil {
			unwatch()
			return nil, err
		}
		k := w.kind
		note := func(obj any) {
			key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				return
			}
			ns, name, err := toolscache.SplitMetaNamespaceKey(key)
			if err != nil {
				return
			}
			m.queue.addObject(objectKey{kind: k, namespace: ns, name: name}, time.Now())
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
			// The initial list is the resync's job.
			AddFunc: func(obj any, initial bool) {
				if !initial {
					note(obj)
				}
			},
			UpdateFunc: func(_, obj any) { note(obj) },
			DeleteFunc: note,
		})
		if err != nil {
			unwatch()
			return nil, err
		}
		undo = append(undo, func() { _ = inf.RemoveEventHandler(reg) })
	}

	inf, err := m.cache.GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		unwatch()
		return nil, err
	}
	noteEvent := func(obj any) {
		e, ok := obj.(*eventsv1.Event)
		if !ok || !isContainerEvent(e) {
			return
		}
		now := time.Now()
		m.queue.addEvent(eventKey{uid: string(e.UID), count: seriesCount(e)},
			pendingEvent{row: eventRow(e, now), seen: now})
	}
	// A deleted Event is an expired one: its rows stay.
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				noteEvent(obj)
			}
		},
		UpdateFunc: func(_, obj any) { noteEvent(obj) },
	})
	if err != nil {
		unwatch()
		return nil, err
	}
	undo = append(undo, func() { _ = inf.RemoveEventHandler(reg) })
	return unwatch, nil
}

// session connects, migrates, resyncs and then writes changes until the database fails or ctx
// ends. worked tells whether it got as far as a completed resync.
func (m *Mirror) session(ctx context.Context) (worked bool, err error) {
	cfg, err := pgxpool.ParseConfig(m.opts.DSN)
	if err != nil {
		// pgx's message names the part of the DSN it could not read, with any password masked.
		return false, fmt.Errorf("reading %s: %w", DSNEnv, err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer pool.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	applied, err := Migrate(ctx, pool)
	if err != nil {
		return false, err
	}
	if len(applied) > 0 {
		m.opts.Log.Info("Migrated the status mirror's schema", "versions", applied)
	}
	if _, err := pool.Exec(ctx, setDashboardUser, m.opts.DashboardUser); err != nil {
		return false, fmt.Errorf("setting the dashboard's user: %w", err)
	}
	if err := m.resync(ctx, pool); err != nil {
		return false, fmt.Errorf("resync: %w", err)
	}
	m.opts.Metrics.Connected.Set(1)
	m.opts.Log.Info("The status mirror is in step with the cluster", "host", cfg.ConnConfig.Host,
		"database", cfg.ConnConfig.Database)

	resync := time.NewTicker(m.opts.ResyncInterval)
	defer resync.Stop()
	counts := time.NewTicker(rowCountInterval)
	defer counts.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-counts.C:
			m.countRows(ctx, pool, true)
		case <-resync.C:
			if err := m.resync(ctx, pool); err != nil {
				return true, fmt.Errorf("resync: %w", err)
			}
		case <-m.queue.ready:
			select {
			case <-ctx.Done():
				return true, nil
			case <-time.After(m.opts.FlushDelay):
			}
			for m.queue.len() > 0 {
				if err := m.flush(ctx, pool); err != nil {
					return true, fmt.Errorf("writing changes: %w", err)
				}
			}
			m.countRows(ctx, pool, false)
		}
	}
}

// flush writes one batch of pending changes in one transaction; on failure the changes go back
// to the queue.
func (m *Mirror) flush(ctx context.Context, pool *pgxpool.Pool) error {
	objs, evs := m.queue.take(m.opts.BatchSize)
	now := time.Now()
	b := &pgx.Batch{}
	for k := range objs {
		if err := m.queueCurrent(ctx, b, k, now); err != nil {
			m.queue.putBack(objs, evs)
			return err
		}
	}
	for _, e := range evs {
		r := append(row(nil), e.row...)
		r[8] = now // updated_at
		b.Queue(insertEvent, r...)
	}
	if err := inTx(ctx, pool, b); err != nil {
		m.queue.putBack(objs, evs)
		return err
	}
	done := time.Now()
	for _, seen := range objs {
		m.opts.Metrics.Lag.Observe(done.Sub(seen).Seconds())
	}
	for _, e := range evs {
		m.opts.Metrics.Lag.Observe(done.Sub(e.seen).Seconds())
	}
	return nil
}

// queueCurrent adds the statements that bring an object's rows to its state in the cache.
func (m *Mirror) queueCurrent(ctx context.Context, b *pgx.Batch, k objectKey, now time.Time) error {
	key := client.ObjectKey{Namespace: k.namespace, Name: k.name}
	var obj client.Object
	switch k.kind {
	case kindBucket:
		obj = &lxcv1.PackageBucket{}
	case kindTemplate:
		obj = &lxcv1.LXCTemplate{}
	case kindContainer:
		obj = &lxcv1.LXCContainer{}
	}
	err := m.cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		b.Queue(deleteSQL(k.kind), k.namespace, k.name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s from the cache: %w", key, err)
	}
	queueObject(b, obj, now)
	return nil
}

// queueObject adds the statements that write an object's rows.
func queueObject(b *pgx.Batch, obj client.Object, now time.Time) {
	switch o := obj.(type) {
	case *lxcv1.PackageBucket:
		b.Queue(upsertBucket, bucketRow(o, now)...)
	case *lxcv1.LXCTemplate:
		b.Queue(upsertTemplate, templateRow(o, now)...)
	case *lxcv1.LXCContainer:
		rv := resourceVersion(o)
		b.Queue(upsertContainer, containerRow(o, now)...)
		b.Queue(deleteOldServices, o.Namespace, o.Name, rv)
		b.Queue(insertServices, o.Namespace, o.Name, rv, string(o.UID), o.Generation, now, servicesOf(o))
	}
}

// resync writes every object of the cache, removes the rows of objects that are gone, applies
// the Event retention and records the time.
func (m *Mirror) resync(ctx context.Context, pool *pgxpool.Pool) error {
	var (
		buckets    lxcv1.PackageBucketList
		templates  lxcv1.LXCTemplateList
		containers lxcv1.LXCContainerList
		events     eventsv1.EventList
	)
	for _, l := range []client.ObjectList{&buckets, &templates, &containers, &events} {
		if err := m.cache.List(ctx, l); err != nil {
			return fmt.Errorf("listing the cache: %w", err)
		}
	}
	now := time.Now()
	b := &pgx.Batch{}
	send := func(force bool) error {
		if !force && b.Len() < m.opts.BatchSize {
			return nil
		}
		err := inTx(ctx, pool, b)
		b = &pgx.Batch{}
		return err
	}
	uids := map[kind][]string{kindBucket: {}, kindTemplate: {}, kindContainer: {}}
	for i := range buckets.Items {
		queueObject(b, &buckets.Items[i], now)
		uids[kindBucket] = append(uids[kindBucket], string(buckets.Items[i].UID))
		if err := send(false); err != nil {
			return err
		}
	}
	for i := range templates.Items {
		queueObject(b, &templates.Items[i], now)
		uids[kindTemplate] = append(uids[kindTemplate], string(templates.Items[i].UID))
		if err := send(false); err != nil {
			return err
		}
	}
	for i := range containers.Items {
		queueObject(b, &containers.Items[i], now)
		uids[kindContainer] = append(uids[kindContainer], string(containers.Items[i].UID))
		if err := send(false); err != nil {
			return err
		}
	}
	for i := range events.Items {
		if e := &events.Items[i]; isContainerEvent(e) {
			b.Queue(insertEvent, eventRow(e, now)...)
			if err := send(false); err != nil {
				return err
			}
		}
	}
	if err := send(true); err != nil {
		return err
	}
	for _, k := range []kind{kindBucket, kindTemplate, kindContainer} {
		b.Queue(pruneSQL(k), uids[k])
	}
	b.Queue("DELETE FROM container_events WHERE event_time < $1", now.Add(-m.opts.EventRetention))
	if err := send(true); err != nil {
		return err
	}
	m.opts.Metrics.LastResync.Set(float64(time.Now().UnixNano()) / 1e9)
	m.countRows(ctx, pool, true)
	return nil
}

// rowCountInterval is how often the row-count metric is refreshed at most.
const rowCountInterval = 5 * time.Second

// countRows refreshes the row-count metric, at most every rowCountInterval unless forced.
func (m *Mirror) countRows(ctx context.Context, pool *pgxpool.Pool, force bool) {
	if !force && time.Since(m.countedAt) < rowCountInterval {
		return
	}
	counts, err := countRows(ctx, pool)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			m.opts.Log.V(1).Info("Counting the mirror's rows failed", "error", err.Error())
		}
		return
	}
	m.countedAt = time.Now()
	for t, n := range counts {
		m.opts.Metrics.Rows.WithLabelValues(t).Set(float64(n))
	}
}
