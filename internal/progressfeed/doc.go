// Package progressfeed publishes a live feed of container provisioning to Redis for the original
// web dashboard's progress page, which follows a creation through Redis pub/sub: for every
// LXCContainer, the messages of its steps (creating, starting, deploying, syncing, finalizing),
// then complete or error, and its Events as log lines, on the channel
// container:<uid>:progress and in the replay list container:<uid>:logs.
//
// The feed is a leader-only manager runnable fed from the manager's shared informer cache. Its
// handlers only turn a change into messages and queue them; one goroutine publishes them in that
// order. A Redis that is down or refuses never holds up the manager: the queue is bounded, and
// publishing is retried with back-off. It tells only what happens from now on; the history is
// the status mirror's (internal/mirror), and the steps come from internal/progress, as the
// mirror's do.
package progressfeed

// The feed reads the Events about LXCContainers from the shared cache, as the mirror does.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=get;list;watch
