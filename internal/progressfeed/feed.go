package progressfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// URLEnv is the environment variable the manager reads the Redis URL from when --mirror-redis is
// not given: a URL may hold a password, which a command line would show to every user of the node.
const URLEnv = "LXCTM_MIRROR_REDIS_URL"

// Defaults of Options.
const (
	DefaultQueueSize  = 10000
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
)

// publishTimeout bounds one attempt, so that a Redis that accepts connections and never answers
// is retried like one that refuses them.
const publishTimeout = 10 * time.Second

// Options configure a Feed. Zero values take the defaults.
type Options struct {
	// URL is the Redis server's redis:// or rediss:// URL.
	URL string
	// QueueSize is the most messages held while Redis is slow or away.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between failed attempts to publish.
	MinBackoff, MaxBackoff time.Duration
	Metrics                *Metrics
	Log                    logr.Logger
}

// Feed publishes containers' progress to Redis. It is a manager runnable that runs only on the
// elected leader.
type Feed struct {
	opts  Options
	redis *redis.Options
	cache cache.Cache
	queue *queue
}

// New returns a Feed reading from c, the manager's shared cache.
func New(c cache.Cache, opts Options) (*Feed, error) {
	ro, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Metrics == nil {
		if opts.Metrics, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	return &Feed{opts: opts, redis: ro, cache: c, queue: newQueue(opts.QueueSize, opts.Metrics.Dropped.Inc)}, nil
}

// parseURL reads a Redis URL. Its errors never quote the URL: it may hold a password.
func parseURL(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, errors.New("the live progress feed needs a Redis URL")
	}
	ro, err := redis.ParseURL(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("reading the Redis URL: %w", err)
	}
	return ro, nil
}

// Addr is the Redis server's host:port, what logs may name of the URL.
func (f *Feed) Addr() string { return f.redis.Addr }

// NeedLeaderElection makes the manager start the feed only on the leader, so that every message
// is published once.
func (f *Feed) NeedLeaderElection() bool { return true }

// Start publishes until ctx ends. Redis problems never end it: they are logged, counted, and
// retried with back-off while go-redis reconnects.
func (f *Feed) Start(ctx context.Context) error {
	unwatch, err := f.watch(ctx)
	if err != nil {
		return fmt.Errorf("watching the cache for the live progress feed: %w", err)
	}
	defer unwatch()
	rdb := redis.NewClient(f.redis)
	defer rdb.Close()
	log := f.opts.Log.WithValues("redis", f.redis.Addr)

	// Say at once whether the URL works; publishing does not wait for it.
	pingCtx, cancel := context.WithTimeout(ctx, publishTimeout)
	err = rdb.Ping(pingCtx).Err()
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		log.Error(err, "The live progress feed cannot reach Redis yet; it publishes once Redis answers")
	default:
		log.Info("Publishing live progress to Redis")
	}

	backoff := f.opts.MinBackoff
	for {
		it, ok := f.next(ctx)
		if !ok {
			return nil
		}
		payload, err := json.Marshal(it.msg)
		if err != nil { // strings and an int: never
			f.opts.Metrics.Dropped.Inc()
			log.Error(err, "Dropping a progress message that does not encode")
			continue
		}
		if !f.publishRetrying(ctx, rdb, log, it.uid, payload, &backoff) {
			return nil
		}
	}
}

// publishRetrying publishes one message, retrying after *backoff, which grows with each failure
// and is reset by a success after one. It returns false once ctx has ended.
func (f *Feed) publishRetrying(ctx context.Context, rdb *redis.Client, log logr.Logger, uid types.UID, payload []byte,
	backoff *time.Duration) bool {
	failed := false
	for {
		err := publish(ctx, rdb, uid, payload)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		failed = true
		f.opts.Metrics.Errors.Inc()
		log.Error(err, "The live progress feed cannot publish to Redis; retrying", "retryIn", backoff.String(),
			"pending", f.queue.len()+1)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(*backoff):
		}
		*backoff = min(2*(*backoff), f.opts.MaxBackoff)
	}
	f.opts.Metrics.Published.Inc()
	if failed {
		log.Info("The live progress feed publishes to Redis again")
		*backoff = f.opts.MinBackoff
	}
	return true
}

// next waits for the oldest queued message; ok is false once ctx has ended.
func (f *Feed) next(ctx context.Context) (item, bool) {
	for {
		if it, ok := f.queue.pop(); ok {
			return it, true
		}
		select {
		case <-ctx.Done():
			return item{}, false
		case <-f.queue.ready:
		}
	}
}

// publish appends a message to the container's replay list, trimmed and with its expiry renewed,
// and publishes it on its channel, in one transaction.
func publish(ctx context.Context, rdb *redis.Client, uid types.UID, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	key := LogsKey(uid)
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, payload)
		p.LTrim(ctx, key, -LogsLength, -1)
		p.Expire(ctx, key, LogsTTL)
		p.Publish(ctx, Channel(uid), payload)
		return nil
	})
	return err
}

// watch subscribes to the shared informers. The handlers only turn a change into messages and
// queue them; only changes after the initial list are news.
func (f *Feed) watch(ctx context.Context) (func(), error) {
	containers, err := f.cache.GetInformer(ctx, &lxcv1.LXCContainer{})
	if err != nil {
		return nil, err
	}
	creg, err := containers.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if c, ok := obj.(*lxcv1.LXCContainer); ok && !initial {
				f.containerChanged(&lxcv1.LXCContainer{}, c)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, okOld := oldObj.(*lxcv1.LXCContainer)
			c, okNew := newObj.(*lxcv1.LXCContainer)
			if okOld && okNew {
				f.containerChanged(old, c)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	unwatch := func() { _ = containers.RemoveEventHandler(creg) }

	events, err := f.cache.GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		unwatch()
		return nil, err
	}
	ereg, err := events.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if e, ok := obj.(*eventsv1.Event); ok && !initial {
				if uid, msg, ok := eventMessage(e, time.Now()); ok {
					f.queue.push(item{uid: uid, msg: msg})
				}
			}
		},
	})
	if err != nil {
		unwatch()
		return nil, err
	}
	return func() {
		unwatch()
		_ = events.RemoveEventHandler(ereg)
	}, nil
}

func (f *Feed) containerChanged(old, c *lxcv1.LXCContainer) {
	for _, msg := range containerMessages(old, c, time.Now()) {
		f.queue.push(item{uid: c.UID, msg: msg})
	}
}
