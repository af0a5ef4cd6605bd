package v1alpha1

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
