// Command pvesim serves a simulated Proxmox VE API for LXC containers over HTTPS.
//
//	pvesim --listen 127.0.0.1:8006 --backend fake|lxc --state-dir DIR --nodes pve1,pve2 \
//	       --api-token 'USER@REALM!ID=SECRET' [--template-dir DIR]
//	pvesim doctor [--local-stack]
//
// The CA that signed the server certificate is written to DIR/ca.pem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "pvesim: %v\n", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// secretListFlag is a repeatable flag whose values are never printed.
type secretListFlag []string

func (l *secretListFlag) String() string     { return "" }
func (l *secretListFlag) Set(v string) error { *l = append(*l, v); return nil }

type config struct {
	listen, backend, stateDir, nodes, templateDir string
	templateCache                                 string
	bridge, subnet, logLevel, logFormat           string
	tokens, users                                 secretListFlag
	taskDurationOf, faults, certHosts             listFlag
	taskDuration, unauthorizedDelay, lockTimeout  time.Duration
	dhcpDelay, shutdownDelay, shutdownGrace       time.Duration
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pvesim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8006", "address to serve HTTPS on (host:port)")
	fs.StringVar(&c.backend, "backend", "fake", "what runs behind a container: fake (in-memory records, for load tests) or lxc (real LXC containers; needs root and the packages lxc, debootstrap, uidmap)")
	fs.StringVar(&c.stateDir, "state-dir", "", "`DIR` keeping containers, tasks and the CA (ca.pem, ca-key.pem) across restarts (required)")
	fs.StringVar(&c.nodes, "nodes", "pve1", "comma-separated node names; every node has the bridge vmbr0 and the storages local and local-lvm")
	fs.Var(&c.tokens, "api-token", "API token `USER@REALM!ID=SECRET` accepted as 'Authorization: PVEAPIToken=USER@REALM!ID=SECRET' (repeatable)")
	fs.Var(&c.users, "user", "`USER@REALM=PASSWORD` allowed to log in with a ticket via POST /access/ticket (repeatable)")
	fs.StringVar(&c.templateDir, "template-dir", "", "`DIR` whose OS template tarballs (*.tar.{gz,xz,zst,bz2}) appear as local:vztmpl/<file>; download-url saves there")
	fs.StringVar(&c.templateCache, "template-cache", "", "`DIR` where the lxc backend keeps the OS templates it extracted (default DIR/lxc-templates of --state-dir); simulators on one host may share one, each template is then extracted once")
	fs.StringVar(&c.bridge, "bridge", "", "host bridge standing for vmbr0 (lxc backend; default derived from the state directory)")
	fs.StringVar(&c.subnet, "subnet", "", "container subnet `169.254.X.0/24` behind vmbr0; its first address is the gateway, DHCP leases come from the rest (default derived from the state directory, never 169.254.169.0/24)")
	fs.DurationVar(&c.taskDuration, "task-duration", time.Second, "minimum duration of every task (vzcreate, vzstart, …)")
	fs.Var(&c.taskDurationOf, "task-duration-of", "minimum duration of one task type, `TYPE=DURATION`, e.g. vzcreate=5s (repeatable)")
	fs.DurationVar(&c.unauthorizedDelay, "unauthorized-delay", 0, "delay of every 401 answer (real Proxmox VE waits 3s)")
	fs.DurationVar(&c.lockTimeout, "lock-timeout", 10*time.Second, "how long an operation waits for a container's config lock")
	fs.DurationVar(&c.dhcpDelay, "fake-dhcp-delay", time.Second, "fake backend: how long after start a DHCP interface shows its address")
	fs.DurationVar(&c.shutdownDelay, "fake-shutdown-delay", 0, "fake backend: how long a clean shutdown takes")
	fs.Var(&c.faults, "fault", "inject faults, `KIND[,key=value…]` with KIND error|latency|lock|drop|task|warn|apply and keys endpoint ('METHOD /pattern'), task (task type), option (the pending option whose apply at a start fails, for apply), rate (0-1), count, delay, status, message; e.g. 'error,endpoint=POST /nodes/{node}/lxc,rate=0.1,status=503' or 'task,task=vzcreate,count=1' or 'warn,task=vzcreate,message=Systemd 257 detected. You may need to enable nesting.' or 'apply,option=mp0,message=lvcreate failed' (repeatable; also at run time under /_pvesim/faults)")
	fs.Var(&c.certHosts, "cert-host", "extra host name or address for the server certificate (repeatable)")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM/SIGINT, how long to wait for running tasks")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: pvesim --listen 127.0.0.1:PORT --backend fake|lxc --state-dir DIR --nodes pve1,pve2 --api-token 'USER@REALM!ID=SECRET' [--template-dir DIR]\n")
		fmt.Fprintf(out, "       pvesim doctor [--local-stack]   check the host for the lxc backend (and the local stack)\n\n")
		fmt.Fprintf(out, "Serves a simulated Proxmox VE API under https://HOST:PORT/api2/json, Prometheus metrics on /metrics\n")
		fmt.Fprintf(out, "and its own endpoints under /_pvesim/ (faults, counters). The CA is written to DIR/ca.pem.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.stateDir == "" {
		return nil, errors.New("--state-dir is required")
	}
	// Paths are taken from the working directory once: the backend hands them to tools that
	// run elsewhere (lxc-start, tar), and Proxmox volids name absolute paths.
	for _, p := range []*string{&c.stateDir, &c.templateDir, &c.templateCache} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	return c, nil
}

func newLogger(c *config, out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is neither text nor json", c.logFormat)
}

// options turns the flags into simulator options (without the backend).
func (c *config) options(log *slog.Logger) (pvesim.Options, string, error) {
	opts := pvesim.Options{
		StateDir:          c.stateDir,
		TemplateDir:       c.templateDir,
		Tokens:            map[string]string{},
		Users:             map[string]string{},
		Tasks:             pvesim.TaskDurations{Default: c.taskDuration, ByType: map[string]time.Duration{}},
		UnauthorizedDelay: c.unauthorizedDelay,
		LockTimeout:       c.lockTimeout,
		Logger:            log,
	}
	for _, n := range strings.Split(c.nodes, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(opts.Nodes, n) {
			opts.Nodes = append(opts.Nodes, n)
		}
	}
	for _, t := range c.tokens {
		i := strings.LastIndexByte(t, '=')
		if i < 0 || !strings.Contains(t[:i], "!") || !strings.Contains(t[:i], "@") || i == len(t)-1 {
			return opts, "", errors.New("--api-token must look like USER@REALM!ID=SECRET")
		}
		opts.Tokens[t[:i]] = t[i+1:]
	}
	for _, u := range c.users {
		user, password, ok := strings.Cut(u, "=")
		if !ok || !strings.Contains(user, "@") || password == "" {
			return opts, "", errors.New("--user must look like USER@REALM=PASSWORD")
		}
		opts.Users[user] = password
	}
	if len(opts.Tokens) == 0 && len(opts.Users) == 0 {
		return opts, "", errors.New("give at least one --api-token or --user")
	}
	for _, d := range c.taskDurationOf {
		typ, v, ok := strings.Cut(d, "=")
		dur, err := time.ParseDuration(v)
		if !ok || err != nil || typ == "" {
			return opts, "", fmt.Errorf("--task-duration-of %q is not TYPE=DURATION", d)
		}
		opts.Tasks.ByType[typ] = dur
	}
	for _, f := range c.faults {
		rule, err := pvesim.ParseFaultRule(f)
		if err != nil {
			return opts, "", fmt.Errorf("--fault: %w", err)
		}
		opts.Faults = append(opts.Faults, rule)
	}
	bridge, subnet := pvesim.DefaultNetwork(c.stateDir)
	if c.bridge != "" {
		bridge = c.bridge
	}
	opts.Subnet = subnet
	if c.subnet != "" {
		p, err := netip.ParsePrefix(c.subnet)
		if err != nil {
			return opts, "", fmt.Errorf("--subnet: %w", err)
		}
		opts.Subnet = p.Masked()
	}
	if err := pvesim.ValidateSubnet(opts.Subnet); err != nil {
		return opts, "", fmt.Errorf("--subnet: %w", err)
	}
	return opts, bridge, nil
}

func run(args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "doctor" {
		return doctor(args[1:], stderr)
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	opts, bridge, err := c.options(log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.stateDir, 0o755); err != nil {
		return err
	}
	ca, err := pvesim.LoadOrCreateCA(c.stateDir)
	if err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	cert, err := ca.ServerCertificate(append([]string{host}, c.certHosts...)...)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}

	switch c.backend {
	case "fake":
		opts.Backend, err = fake.New(fake.Options{StateDir: filepath.Join(c.stateDir, "fake"), DHCPDelay: c.dhcpDelay, ShutdownDelay: c.shutdownDelay})
	case "lxc":
		opts.Backend, err = newLXCBackend(c.stateDir, c.templateCache, bridge, opts.Subnet, log)
	default:
		return fmt.Errorf("--backend %q is neither fake nor lxc", c.backend)
	}
	if err != nil {
		return fmt.Errorf("%s backend: %w", c.backend, err)
	}
	srv, err := pvesim.New(opts)
	if err != nil {
		_ = opts.Backend.Close()
		return err
	}
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		_ = opts.Backend.Close()
		return err
	}
	tokenIDs := make([]string, 0, len(opts.Tokens))
	for id := range opts.Tokens {
		tokenIDs = append(tokenIDs, id)
	}
	slices.Sort(tokenIDs)
	log.Info("Serving Proxmox VE API", "url", "https://"+l.Addr().String()+"/api2/json", "backend", c.backend,
		"tokens", tokenIDs, "ca", filepath.Join(c.stateDir, "ca.pem"), "bridge", bridge, "subnet", opts.Subnet.String())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, cert) }()
	select {
	case err := <-served:
		_ = srv.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("Shutting down", "grace", c.shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}

// newLXCBackend is the lxc backend: real LXC containers on a bridge of their own.
func newLXCBackend(stateDir, templateCache, bridge string, subnet netip.Prefix, log *slog.Logger) (pvesim.Backend, error) {
	return lxc.New(lxc.Options{StateDir: stateDir, TemplateCache: templateCache, Bridge: bridge, Subnet: subnet, Logger: log})
}
