//go:build unix

package fsm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Memory and snapshot figures at scale (fsm/DESIGN.md, "Memory layout").
// They run only with -bench, e.g.
//
//	go test ./fsm -run '^$' -bench 'Memory' -benchtime 1x
//
// HERALD_MEM_MSGS sets the number of stored messages (default 1,000,000);
// use e.g. HERALD_MEM_MSGS=100000 for a quick run. HERALD_MEM_PROFILE=path
// makes BenchmarkMemoryPosted write a heap profile of the filled FSM there
// (go tool pprof -sample_index=inuse_space). Times are reported as wall
// time and as the process's CPU time (GC included), since the machines
// these run on are often shared.

const (
	memBodySize  = 256 // bytes of each message body (JSON)
	memQueues    = 8   // queues the posts are spread over
	memPerPost   = 20  // messages per MessagesPost (one entry each)
	memDefaultN  = 1_000_000
	memClientID  = "0123456789abcdef0123456789abcdef"
	memRequestID = "req-00000000-0000-4000-8000-%012d" // like httpapi's "req-<uuid4>"
)

// memMessages returns the number of messages of the memory benchmarks.
func memMessages(tb testing.TB) int {
	n := memDefaultN
	if v := os.Getenv("HERALD_MEM_MSGS"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < memPerPost {
			tb.Fatalf("HERALD_MEM_MSGS=%q: want an integer >= %d", v, memPerPost)
		}
		n = x
	}
	return n - n%memPerPost
}

// memBody returns a JSON body of exactly memBodySize bytes.
func memBody(i int) []byte {
	b := []byte(fmt.Sprintf(`{"seq":%010d,"pad":"`, i))
	for len(b) < memBodySize-2 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}

// cpuTime returns the CPU time (user + system, all threads: GC included)
// the process has used. The machines these run on are shared, so CPU time
// is reported beside wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapInUse returns the live heap after two full collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fillForMemory posts n messages of memBodySize bytes over memQueues
// queues, memPerPost per MessagesPost entry, each with its own RequestID,
// through ApplyEntry (the path raft uses). It returns the next free index.
func fillForMemory(tb testing.TB, f *FSM, n int) uint64 {
	tb.Helper()
	msgs := make([]NewMessage, memPerPost)
	for i := range msgs {
		msgs[i] = NewMessage{Body: memBody(i)}
	}
	payloads := make([][]byte, memQueues)
	for q := range payloads {
		cmd := mustCmd(tb, CmdMessagesPost, "", &MessagesPost{Project: prj, Queue: fmt.Sprintf("queue-%d", q),
			ClientID: memClientID, Messages: msgs})
		payloads[q] = cmd.Payload
	}
	index := uint64(1)
	for e := 0; e < n/memPerPost; e++ {
		cmd := Command{Type: CmdMessagesPost, Now: t0 + int64(e)*1000, RequestID: fmt.Sprintf(memRequestID, e),
			Payload: payloads[e%memQueues]}
		data, err := cmd.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		if r := f.ApplyEntry(index, data); r.Code != CodeOK || len(r.IDs) != memPerPost {
			tb.Fatalf("entry %d: %+v", index, r)
		}
		index++
	}
	return index
}

// writeHeapProfile writes the current heap profile to path.
func writeHeapProfile(tb testing.TB, path string) {
	file, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer file.Close()
	if err := pprof.Lookup("heap").WriteTo(file, 0); err != nil {
		tb.Fatal(err)
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// BenchmarkMemoryPosted stores HERALD_MEM_MSGS messages (default 1M) and
// reports the live heap per stored message (body included) and the part
// beyond the body. Posting time is reported as ns/msg.
func BenchmarkMemoryPosted(b *testing.B) {
	n := memMessages(b)
	for i := 0; i < b.N; i++ {
		f := New(Config{})
		before := heapInUse()
		start, cpu := time.Now(), cpuTime()
		fillForMemory(b, f, n)
		elapsed, cpu := time.Since(start), cpuTime()-cpu
		after := heapInUse()
		if path := os.Getenv("HERALD_MEM_PROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		runtime.KeepAlive(f)
		perMsg := float64(int64(after)-int64(before)) / float64(n)
		b.ReportMetric(perMsg, "heapB/msg")
		b.ReportMetric(perMsg-memBodySize, "overheadB/msg")
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/msg")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/msg")
	}
}

// BenchmarkMemorySnapshot stores HERALD_MEM_MSGS messages, then reports
// the time of Snapshot (capture, on the apply goroutine), of persisting the
// stream to a temporary file and of restoring it into a fresh FSM, the
// snapshot size, and the live heap per message of the restored FSM.
func BenchmarkMemorySnapshot(b *testing.B) {
	n := memMessages(b)
	path := filepath.Join(b.TempDir(), "snap")
	for i := 0; i < b.N; i++ {
		f := New(Config{})
		fillForMemory(b, f, n)
		heapInUse()

		start := time.Now()
		persist, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		capture := time.Since(start)
		file, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		cw := &countingWriter{w: file}
		start, cpu := time.Now(), cpuTime()
		if err := persist(cw); err != nil {
			b.Fatal(err)
		}
		persistTime, persistCPU := time.Since(start), cpuTime()-cpu
		if err := file.Close(); err != nil {
			b.Fatal(err)
		}
		want := f.Digest()

		before := heapInUse() // f and the capture are dead: collected here
		runtime.KeepAlive(want)
		g := New(Config{})
		file, err = os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		start, cpu = time.Now(), cpuTime()
		if err := g.Restore(bufio.NewReader(file)); err != nil {
			b.Fatal(err)
		}
		restoreTime, restoreCPU := time.Since(start), cpuTime()-cpu
		file.Close()
		after := heapInUse()
		if g.Digest() != want {
			b.Fatal("restore did not reproduce the digest")
		}
		b.ReportMetric(float64(capture.Microseconds()), "capture-µs")
		b.ReportMetric(float64(persistTime.Milliseconds()), "persist-ms")
		b.ReportMetric(float64(persistCPU.Milliseconds()), "persist-cpu-ms")
		b.ReportMetric(float64(cw.n)/1e6, "snapshot-MB")
		b.ReportMetric(float64(cw.n)/float64(n), "snapB/msg")
		b.ReportMetric(float64(restoreTime.Milliseconds()), "restore-ms")
		b.ReportMetric(float64(restoreCPU.Milliseconds()), "restore-cpu-ms")
		b.ReportMetric(float64(int64(after)-int64(before))/float64(n), "restoredB/msg")
		runtime.KeepAlive(g)
	}
}
