// Command console serves the web console. It holds no permission of its own: the kubeconfig
// (or in-cluster config) gives only the API server's address and CA, and every call is made
// with the signed-in user's bearer token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"templatemanager.dev/lxc-template-manager/internal/console"
	"templatemanager.dev/lxc-template-manager/internal/console/auth"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("Console failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve on")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig giving the API server's address and CA (its credentials are not used); default in-cluster")
	keyFile := flag.String("cookie-key-file", "", "file holding the 32 random bytes that seal session cookies; without it a key is made at start and sessions end on restart")
	secure := &optionalBool{}
	flag.Var(secure, "secure-cookies", "mark cookies Secure (HTTPS only); default true unless --listen is a loopback address")
	mirrorDSN := flag.String("mirror-dsn", "", "PostgreSQL DSN of the status mirror, for Events older than the API server keeps (env LXCTM_MIRROR_DSN)")
	flag.Parse()
	if *mirrorDSN == "" {
		*mirrorDSN = os.Getenv("LXCTM_MIRROR_DSN") // not the flag's default: -h would print it
	}

	cfg, err := apiServerConfig(*kubeconfig)
	if err != nil {
		return err
	}
	key, err := cookieKey(*keyFile, log)
	if err != nil {
		return err
	}
	secureCookies, err := secure.or(*listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	opts := console.Options{Config: cfg, CookieKey: key, SecureCookies: secureCookies, Log: log}
	if *mirrorDSN != "" {
		pool, err := pgxpool.New(ctx, *mirrorDSN)
		if err != nil {
			return fmt.Errorf("--mirror-dsn: %w", err)
		}
		defer pool.Close()
		opts.History = &console.MirrorHistory{Pool: pool}
	}
	srv, err := console.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	log.Info("Console serving", "url", "http://"+ln.Addr().String(), "apiserver", cfg.Host, "secureCookies", secureCookies)
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// apiServerConfig reads the API server's address and CA; credentials are dropped by the console.
func apiServerConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	return cfg, nil
}

func cookieKey(file string, log *slog.Logger) ([]byte, error) {
	if file == "" {
		log.Info("No --cookie-key-file: sessions end when the console restarts")
		return auth.NewKey()
	}
	key, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--cookie-key-file: %w", err)
	}
	if len(key) != auth.KeySize {
		return nil, fmt.Errorf("--cookie-key-file: %d bytes, want %d random bytes", len(key), auth.KeySize)
	}
	return key, nil
}

// optionalBool is a boolean flag that knows whether it was given.
type optionalBool struct {
	set, value bool
}

func (o *optionalBool) String() string   { return strconv.FormatBool(o.value) }
func (o *optionalBool) IsBoolFlag() bool { return true }
func (o *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.set, o.value = true, v
	return nil
}

// or is the flag's value, or when not given: true unless listen is a loopback address.
func (o *optionalBool) or(listen string) (bool, error) {
	if o.set {
		return o.value, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("--listen: %w", err)
	}
	ip := net.ParseIP(host)
	return !(host == "localhost" || (ip != nil && ip.IsLoopback())), nil
}
