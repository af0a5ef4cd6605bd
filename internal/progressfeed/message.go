package progressfeed

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The message types the progress page tells apart.
const (
	TypeStep     = "step"
	TypeLog      = "log"
	TypeComplete = "complete"
	TypeError    = "error"
)

// Message is one progress event, as the dashboard's ContainerProgressEvent declares it.
type Message struct {
	Type string `json:"type"`
	// Step is the step's name for TypeStep, empty otherwise.
	Step string `json:"step,omitempty"`
	// Percent is the whole pipeline's progress, nil where the message carries none.
	Percent   *int   `json:"percent,omitempty"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
}

// Timestamp formats t as JavaScript's Date.prototype.toISOString does, the form the page parses.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Channel is the pub/sub channel of a container's progress; uid is its metadata.uid.
func Channel(uid types.UID) string { return "container:" + string(uid) + ":progress" }

// LogsKey is the list holding a container's last messages, which the page replays on reload.
func LogsKey(uid types.UID) string { return "container:" + string(uid) + ":logs" }

// The replay list keeps the last LogsLength messages, for LogsTTL after the last one (the
// dashboard's own worker keeps the same).
const (
	LogsLength = 2000
	LogsTTL    = 48 * time.Hour
)
