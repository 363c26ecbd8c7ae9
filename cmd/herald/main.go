// Command herald runs a Herald node: a clustered messaging and notification
// service that speaks the OpenStack Zaqar v2 HTTP API.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/herald-mq/herald/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: herald <command> [flags]

Commands:
  serve     run a node (see 'herald serve -help')
  version   print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "herald %s (%s)\n", version, runtime.Version())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, stderr io.Writer) int {
	f, err := parseServe(args, stderr, os.Getenv)
	if err != nil {
		if strings.Contains(err.Error(), "help requested") {
			return 0
		}
		fmt.Fprintf(stderr, "herald serve: %v\n", err)
		return 2
	}
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "herald serve: %v\n", err)
		return 2
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		fmt.Fprintf(stderr, "herald serve: %v\n", err)
		return 2
	}
	cfg.Log = logger
	n, err := node.New(cfg)
	if err != nil {
		logger.Error("cannot create node", "err", err)
		return 1
	}
	if err := n.Start(); err != nil {
		logger.Error("cannot start node", "err", err)
		return 1
	}
	if f.debugAddr != "" {
		stop, err := serveDebug(f.debugAddr, logger)
		if err != nil {
			logger.Error("cannot serve -debug-addr", "err", err)
			n.Close()
			return 1
		}
		defer stop()
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	sig := <-sigs
	logger.Info("stopping: transferring leadership and leaving the cluster; send again to exit at once", "signal", sig.String())
	done := make(chan error, 1)
	go func() { done <- n.Close() }() // owner: serve; waited for below
	select {
	case err := <-done:
		if err != nil {
			logger.Error("stopped with error", "err", err)
			return 1
		}
		return 0
	case sig := <-sigs:
		logger.Warn("second signal: exiting at once", "signal", sig.String())
		return 1
	}
}

// newLogger builds the process logger; raft and memberlist logs are bridged
// into it by the cluster package.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: use text or json", format)
	}
}

// serveDebug serves net/http/pprof on its own listener, so profiles never
// share the API's port or its middleware. The returned func closes it.
func serveDebug(addr string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { // owner: serve; stopped by the returned func
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Warn("debug listener stopped", "err", err)
		}
	}()
	logger.Info("serving pprof", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
