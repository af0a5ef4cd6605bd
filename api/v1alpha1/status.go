package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SetObservedGeneration records the generation the status describes.
func (in *ProxmoxCluster) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *PackageBucket) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *LXCTemplate) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *LXCContainer) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetRetry returns the failed-attempt record, or nil.
func (in *LXCContainer) GetRetry() *RetryStatus { return in.Status.Retry }

// SetRetry replaces the failed-attempt record.
func (in *LXCContainer) SetRetry(r *RetryStatus) { in.Status.Retry = r }

// GetRetry returns the failed-attempt record, or nil.
func (in *ProxmoxCluster) GetRetry() *RetryStatus { return in.Status.Retry }

// SetRetry replaces the failed-attempt record.
func (in *ProxmoxCluster) SetRetry(r *RetryStatus) { in.Status.Retry = r }

// GetConditions returns the status conditions.
func (in *LXCSnapshot) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *LXCSnapshot) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation the status describes.
func (in *LXCSnapshot) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *LXCBackup) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *LXCBackup) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation the status describes.
func (in *LXCBackup) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *LXCRestore) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *LXCRestore) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation the status describes.
func (in *LXCRestore) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
