package v1alpha1

// SetObservedGeneration records the generation the status describes.
func (in *ProxmoxCluster) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *PackageBucket) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *LXCTemplate) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *LXCContainer) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
