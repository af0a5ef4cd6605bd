package outcome

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// The retry schedule after failures: the first retry after RetryBase, each next one after
// twice as long up to RetryCap, each with up to RetryJitter more, so that a fleet that failed
// together does not retry together. The count lives in status (status.retry), so a restarted
// or newly elected controller carries on with the schedule instead of starting it over.
const (
	RetryBase   = 2 * time.Second
	RetryCap    = 5 * time.Minute
	RetryJitter = 0.2
	// ClusterRetryCap is a ProxmoxCluster's cap. Checking a cluster is a handful of requests
	// for the whole cluster, and its turning Ready again is what releases the containers its
	// outage failed (ReleaseByCluster): five minutes there would be five minutes of a fleet
	// standing still after Proxmox is back.
	ClusterRetryCap = time.Minute
)

// Retrying is an object whose failed attempts are counted in its status.
type Retrying interface {
	Object
	GetRetry() *lxcv1.RetryStatus
	SetRetry(*lxcv1.RetryStatus)
}

// RetryDelay is the wait after the given number of consecutive failed attempts, doubling up
// to limit.
func RetryDelay(attempts int32, limit time.Duration) time.Duration {
	d := RetryBase
	for i := int32(1); i < attempts && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d + time.Duration(rand.Float64()*RetryJitter*float64(d))
}

// retryCapOf is the longest wait between two attempts of obj.
func retryCapOf(obj Retrying) time.Duration {
	if _, ok := obj.(*lxcv1.ProxmoxCluster); ok {
		return ClusterRetryCap
	}
	return RetryCap
}

// CountFailure records one more failed attempt with its reason and returns the count and the
// wait until the next attempt.
func CountFailure(obj Retrying, reason string, now time.Time) (int32, time.Duration) {
	r := obj.GetRetry()
	if r == nil || r.Generation != obj.GetGeneration() {
		r = &lxcv1.RetryStatus{Generation: obj.GetGeneration()}
	} else {
		r = r.DeepCopy()
	}
	r.Attempts++
	r.Reason = reason
	delay := RetryDelay(r.Attempts, retryCapOf(obj))
	last, next := metav1.NewTime(now), metav1.NewTime(now.Add(delay))
	r.LastFailureTime, r.NextAttemptTime = &last, &next
	obj.SetRetry(r)
	return r.Attempts, delay
}

// RetryPending returns how long the next attempt of a failing object is still away: zero when
// it is due, or nothing failed. A new generation, or a request to reconcile now, forgets the
// failures: the user changed something, so the next attempt is a first one.
func RetryPending(obj Retrying, requested bool, now time.Time) time.Duration {
	r := obj.GetRetry()
	if r == nil {
		return 0
	}
	if requested || r.Generation != obj.GetGeneration() {
		obj.SetRetry(nil)
		return 0
	}
	if r.NextAttemptTime == nil {
		return 0
	}
	return max(r.NextAttemptTime.Sub(now), 0)
}

// RecoverySpread is the time over which a cluster that is Ready again releases the containers
// its outage failed, each at its own moment, so that they do not all try again at once.
const RecoverySpread = 30 * time.Second

// clusterFailures are the failure reasons that are the cluster's, not the container's.
var clusterFailures = []string{lxcv1.UnreachableReason, lxcv1.ProxmoxErrorReason,
	lxcv1.AuthenticationFailedReason, lxcv1.TLSFailedReason}

// ReleaseByCluster brings a failing container's next attempt forward when its last failure was
// the cluster's and the cluster has turned Ready since: to the moment it did, plus the
// container's share of RecoverySpread (by UID), if that is sooner. A fleet whose back-off grew
// to minutes during an outage thus comes back within RecoverySpread of the cluster, instead of
// each container waiting out its own back-off. The count of attempts stays: a failure that
// recurs backs off from where it was.
func ReleaseByCluster(obj *lxcv1.LXCContainer, cluster *lxcv1.ProxmoxCluster) {
	r := obj.Status.Retry
	if r == nil || r.NextAttemptTime == nil || r.LastFailureTime == nil || !slices.Contains(clusterFailures, r.Reason) {
		return
	}
	ready := conditions.Get(cluster, lxcv1.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionTrue || !ready.LastTransitionTime.After(r.LastFailureTime.Time) {
		return
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(obj.UID))
	at := ready.LastTransitionTime.Add(time.Duration(h.Sum64() % uint64(RecoverySpread)))
	if at.Before(r.NextAttemptTime.Time) {
		r = r.DeepCopy()
		r.NextAttemptTime = &metav1.Time{Time: at}
		obj.Status.Retry = r
	}
}

// AttemptNote is what a condition message says of a failure that is retried.
func AttemptNote(attempts int32, delay time.Duration) string {
	return fmt.Sprintf("attempt %d, next in %s", attempts, delay.Round(time.Second))
}

// A reconcile that returns an error (a status write the API server refused or could not take)
// is requeued by the work queue: after RequeueBase, doubling up to RequeueCap. With
// controller-runtime's default cap of 1000 s, an object whose writes failed for a minute waits
// over a minute more, and longer after every further failure, though the API server may be
// back long before. These errors are the API server's, not the object's, so the wait stays
// short; the queue's overall rate limit (10 per second, bursts of 100) keeps a recovering API
// server from a storm.
const (
	RequeueBase = 5 * time.Millisecond
	RequeueCap  = 30 * time.Second
)

// RequeueLimiter is the work queue's schedule for reconciles that returned an error.
func RequeueLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](RequeueBase, RequeueCap),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}
