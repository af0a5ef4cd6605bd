package ssh

import (
	"context"
	"io"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Connector opens sessions to containers. The controller holds one; *Dialer is the real one,
// load tests may use an in-process stand-in.
type Connector interface {
	Connect(ctx context.Context, target Target) (Session, error)
}

// Session is one connection to a container: everything the controller does over SSH.
// A Session is safe for concurrent use; Close ends it.
type Session interface {
	// HostKey is the fingerprint of the host key the container presented (see Fingerprint).
	HostKey() string
	// Exec runs a command and collects its output. A non-zero exit code is a result, not an
	// error; errors are transport failures and timeouts.
	Exec(ctx context.Context, cmd Command) (Result, error)
	// ExecStream runs a command and hands each output line to onLine as it arrives; the Result
	// carries the exit code only.
	ExecStream(ctx context.Context, cmd Command, onLine func(Line)) (Result, error)
	// Upload writes a file atomically with its mode and owner, creating parent directories.
	Upload(ctx context.Context, file File) error
	// ReadFile reads a file of at most MaxReadFileSize bytes.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// StartRun starts a detached run, or reports the run as it is when one with the same ID is
	// running or has finished.
	StartRun(ctx context.Context, spec RunSpec) (RunStatus, error)
	// InspectRun reads back a run with the last tailLines lines of its output.
	InspectRun(ctx context.Context, id RunID, tailLines int) (RunStatus, error)
	// RemoveRun deletes what a finished or lost run left behind, so its ID can run again.
	RemoveRun(ctx context.Context, id RunID) error
	Close() error
}

// Target is the container to connect to.
type Target struct {
	// Address is host or host:port; the port defaults to 22.
	Address string
	// User defaults to root.
	User string
	// Signer is the controller's private key.
	Signer gossh.Signer
	// Fallback are further keys offered, in order, when Signer is refused: the keys a rotation
	// is replacing.
	Fallback []gossh.Signer
	// HostKey is the pinned host key fingerprint; empty on first contact, when any key is
	// accepted and Session.HostKey tells the caller what to record.
	HostKey string
	// Verify, when set, is run by the Pool on each new connection before anyone may use it, to
	// make sure the machine reached is the one meant. Its error closes the connection and is
	// what the dial returns.
	Verify func(ctx context.Context, s Session) error
}

// Command is a command line for the remote shell. It is built from fixed text and validated
// names only (see ShellQuote); content goes through Stdin or Upload, never into Line.
type Command struct {
	Line string
	// Stdin is fed to the command when set.
	Stdin io.Reader
	// Timeout bounds the command; zero means the Dialer's OperationTimeout.
	Timeout time.Duration
}

// Result is the outcome of a command that ran to its end.
type Result struct {
	ExitCode int
	// Signal names the signal that ended the command, if one did (ExitCode is then 128+n).
	Signal string
	Stdout []byte
	Stderr []byte
	// Truncated says Stdout or Stderr exceeded MaxOutputSize and was cut.
	Truncated bool
	Duration  time.Duration
}

// Stream tells stdout from stderr.
type Stream int

const (
	Stdout Stream = iota + 1
	Stderr
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return "unknown"
}

// Line is one line of a streamed command's output, without its newline.
type Line struct {
	Stream Stream
	Text   string
}
