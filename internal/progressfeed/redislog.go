package progressfeed

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
)

// LibraryLog carries go-redis's own log lines (every failed dial, pool trouble) to a logr logger
// at verbosity 1, instead of to stderr unstructured: the feed's own error line already says when
// Redis cannot be reached. Install it with redis.SetLogger.
type LibraryLog struct{ Log logr.Logger }

// Printf implements go-redis's logging interface.
func (l LibraryLog) Printf(_ context.Context, format string, v ...any) {
	l.Log.V(1).Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
