package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagEnvPrecedence(t *testing.T) {
	env := map[string]string{
		"HERALD_RAFT_ADDR":        "127.0.0.1:7001",
		"HERALD_HTTP_ADDR":        "127.0.0.1:7000",
		"HERALD_BOOTSTRAP_EXPECT": "3",
		"HERALD_JOIN":             "127.0.0.1:7002,127.0.0.1:7012",
	}
	f, err := parseServe([]string{"-http-addr", "127.0.0.1:9000"}, &bytes.Buffer{}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.httpAddr != "127.0.0.1:9000" {
		t.Errorf("flag must win over env: http-addr = %q", f.httpAddr)
	}
	if f.raftAddr != "127.0.0.1:7001" || f.bootstrapExpect != 3 {
		t.Errorf("env must win over default: raft-addr %q, bootstrap-expect %d", f.raftAddr, f.bootstrapExpect)
	}
	if f.gossipAddr != "127.0.0.1:8890" || f.dataDir != "./herald-data" {
		t.Errorf("defaults: gossip-addr %q, data-dir %q", f.gossipAddr, f.dataDir)
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Join) != 2 || cfg.Join[1] != "127.0.0.1:7012" {
		t.Errorf("join = %v", cfg.Join)
	}
}

func TestLogBudgetFlags(t *testing.T) {
	env := map[string]string{"HERALD_RAFT_TRAILING_BYTES": "1048576"}
	f, err := parseServe([]string{"-raft-snapshot-bytes", "536870912"}, &bytes.Buffer{}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SnapshotBytes != 512<<20 || cfg.TrailingBytes != 1<<20 {
		t.Errorf("SnapshotBytes %d, TrailingBytes %d; want 512 MiB from the flag and 1 MiB from the environment", cfg.SnapshotBytes, cfg.TrailingBytes)
	}
	if _, err := parseServe([]string{"-raft-snapshot-bytes", "-1"}, &bytes.Buffer{}, func(string) string { return "" }); err == nil {
		t.Error("a negative -raft-snapshot-bytes must be refused")
	}
}

func TestBadEnvValueIsAnError(t *testing.T) {
	_, err := parseServe(nil, &bytes.Buffer{}, func(k string) string {
		if k == "HERALD_BOOTSTRAP_EXPECT" {
			return "three"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "HERALD_BOOTSTRAP_EXPECT") {
		t.Fatalf("err = %v, want one naming HERALD_BOOTSTRAP_EXPECT", err)
	}
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(p, []byte("  s3cret\n"), 0o600)
	f, err := parseServe([]string{"-cluster-secret-file", p}, &bytes.Buffer{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.nodeConfig()
	if err != nil || cfg.ClusterSecret != "s3cret" {
		t.Fatalf("secret %q, err %v", cfg.ClusterSecret, err)
	}
	f.clusterSecret = "also"
	if _, err := f.nodeConfig(); err == nil {
		t.Fatal("both -cluster-secret and -cluster-secret-file must be refused")
	}
}

func TestHelpListsEveryFlagWithItsEnvName(t *testing.T) {
	var out bytes.Buffer
	fs, _ := newServeFlagSet(&out)
	fs.Usage()
	for _, name := range []string{"node-id", "data-dir", "http-addr", "raft-addr", "gossip-addr", "http-advertise",
		"raft-advertise", "gossip-advertise", "join", "bootstrap-expect", "log-level", "log-format"} {
		if !strings.Contains(out.String(), "-"+name) {
			t.Errorf("help lacks -%s", name)
		}
	}
	if !strings.Contains(out.String(), "HERALD_RAFT_ADDR") {
		t.Error("help does not explain the HERALD_ environment variables")
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "herald ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}
