package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter bridges raft's hclog.Logger into slog. Its level floor keeps
// raft's chatty debug and trace lines out unless the slog handler itself
// asks for debug; the handler's own level then decides.
type hclogAdapter struct {
	log   *slog.Logger
	name  string
	floor hclog.Level // lines below it are dropped before reaching slog
	args  []any       // implied arguments (With)
	// quiet, once set (at shutdown), demotes warnings and errors to debug:
	// raft reports the connections we close on purpose as failures.
	quiet *atomic.Bool
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHCLog returns an hclog.Logger writing to l with component=comp.
func newHCLog(l *slog.Logger, comp string, quiet *atomic.Bool) hclog.Logger {
	floor := hclog.Info
	if l.Enabled(context.Background(), slog.LevelDebug) {
		floor = hclog.Debug
	}
	return &hclogAdapter{log: l.With("component", comp), floor: floor, quiet: quiet}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Log implements hclog.Logger; the methods below complete the interface.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level < a.floor {
		return
	}
	ctx := context.Background()
	sl := slogLevel(level)
	if sl > slog.LevelInfo && a.quiet != nil && a.quiet.Load() {
		sl = slog.LevelDebug
	}
	if !a.log.Enabled(ctx, sl) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	for i, v := range all {
		if f, ok := v.(hclog.Format); ok && len(f) > 0 { // hclog.Fmt("%+v", x)
			if format, ok := f[0].(string); ok {
				all[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	a.log.Log(ctx, sl, msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.floor <= hclog.Trace }
func (a *hclogAdapter) IsDebug() bool                 { return a.floor <= hclog.Debug }
func (a *hclogAdapter) IsInfo() bool                  { return a.floor <= hclog.Info }
func (a *hclogAdapter) IsWarn() bool                  { return a.floor <= hclog.Warn }
func (a *hclogAdapter) IsError() bool                 { return a.floor <= hclog.Error }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(l hclog.Level)        {} // the slog handler owns levels
func (a *hclogAdapter) GetLevel() hclog.Level         { return a.floor }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.args = append(append([]any(nil), a.args...), args...)
	return &b
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	b := *a
	if b.name != "" {
		b.name += "." + name
	} else {
		b.name = name
	}
	return &b
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	return &b
}

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(nil), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &stdlogWriter{log: a.log, debug: a.floor <= hclog.Debug, prefix: a.name, quiet: a.quiet}
}

// stdlogWriter turns lines of a *log.Logger in the hashicorp style
// ("[WARN] memberlist: msg") into slog records at the matching level.
type stdlogWriter struct {
	log    *slog.Logger
	debug  bool         // pass [DEBUG]/[TRACE] lines through
	prefix string       // stripped from the message ("memberlist" for "memberlist: ")
	quiet  *atomic.Bool // as in hclogAdapter: set at shutdown, demotes warnings and errors
}

// newStdLogger returns a *log.Logger for memberlist, bridged into l with
// component=comp.
func newStdLogger(l *slog.Logger, comp string, quiet *atomic.Bool) *log.Logger {
	w := &stdlogWriter{
		log:    l.With("component", comp),
		debug:  l.Enabled(context.Background(), slog.LevelDebug),
		prefix: comp,
		quiet:  quiet,
	}
	return log.New(w, "", 0)
}

// Write logs each line of p as one slog record.
func (w *stdlogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.line(string(line))
	}
	return len(p), nil
}

func (w *stdlogWriter) line(s string) {
	lvl := slog.LevelInfo
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			switch s[1:end] {
			case "TRACE", "DEBUG":
				if !w.debug {
					return
				}
				lvl = slog.LevelDebug
			case "WARN", "WARNING":
				lvl = slog.LevelWarn
			case "ERR", "ERROR":
				lvl = slog.LevelError
			}
			s = strings.TrimSpace(s[end+1:])
		}
	}
	if w.prefix != "" {
		s = strings.TrimPrefix(s, w.prefix+": ")
	}
	if lvl > slog.LevelInfo && w.quiet != nil && w.quiet.Load() {
		if !w.debug {
			return
		}
		lvl = slog.LevelDebug
	}
	w.log.Log(context.Background(), lvl, s)
}
