package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDaemonMemory measures what an operator sees (issue 12, "Memory
// and disk at campaign scale"): the real daemon (simgate serve, no modem,
// so everything stays queued) takes N messages of 69 characters from 64
// clients; then it is stopped and started again. It reports the accept
// rate; VmRSS from /proc/<pid>/status after the posts and after the restart
// (2 s after the dispatcher has loaded the queue); the restarted process's
// VmHWM (its start-up peak); how long the restart took until the API
// answered and until the queue was loaded (the dispatcher running); and
// the store file's bytes per message.
//
// N is SIMGATE_BENCH_QUEUED (default 20000, to stay short; the targets are
// for 100000: ≤ 60 MB RSS, and 1000000: ≤ 150 MB RSS, ready ≤ 2 s, ≤ 600
// bytes per message). Run with -benchtime=1x.
func BenchmarkDaemonMemory(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/<pid>/status")
	}
	n := 20000
	if s := os.Getenv("SIMGATE_BENCH_QUEUED"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("SIMGATE_BENCH_QUEUED=%q: want a positive number", s)
		}
		n = v
	}
	for range b.N {
		runDaemonMemory(b, n)
	}
}

func runDaemonMemory(b *testing.B, n int) {
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	addr := freeAddr(b)
	base := "http://" + addr
	dbPath := filepath.Join(dir, "simgate.db")
	cfgPath := filepath.Join(dir, "simgate.yaml")
	cfg := fmt.Sprintf(`listen: %s
store:
  path: %s
log: {level: info, format: text}
api: {rate_limit: 0, daily_quota: 0, max_queued: 0, default_validity: 0s}
shutdown_timeout: 30s
`, addr, dbPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, "keys", "create", "-config", cfgPath, "-owner", "bench", "-scopes", "send,read", "-q").CombinedOutput()
	if err != nil {
		b.Fatalf("keys create: %v: %s", err, out)
	}
	key := strings.TrimSpace(string(out))

	d := startMeasured(b, bin, cfgPath, base)
	body := "Hi Sam, can you make it to the food bank on Saturday at 10? Reply YES"[:69]
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	bench := b
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				// 202-2xx-xxxx upwards: valid NANP numbers, all different.
				b, _ := json.Marshal(map[string]string{"to": fmt.Sprintf("+1202%03d%04d", 200+i/10000, i%10000), "body": body})
				req, _ := http.NewRequest("POST", base+"/v1/messages", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					if failed.Add(1) == 1 {
						bench.Logf("POST: %d %s", resp.StatusCode, msg)
					}
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d posts failed", f, n)
	}
	time.Sleep(2 * time.Second) // let the committer's madvise and the GC settle
	rss1, hwm1 := procStatus(b, d.cmd.Process.Pid)
	anon1, file1 := rssParts(b, d.cmd.Process.Pid)
	heap1 := goHeap(b, client, base)
	d.stop(b)

	fi, err := os.Stat(dbPath)
	if err != nil {
		b.Fatal(err)
	}
	restart := time.Now()
	d2 := startMeasured(b, bin, cfgPath, base)
	loaded, api := d2.loaded.Sub(restart), d2.api.Sub(restart)
	time.Sleep(2 * time.Second)
	rss2, hwm2 := procStatus(b, d2.cmd.Process.Pid)
	anon2, file2 := rssParts(b, d2.cmd.Process.Pid)
	heap2 := goHeap(b, client, base)
	d2.stop(b)

	perMsg := float64(fi.Size()) / float64(n)
	b.ReportMetric(float64(n)/took.Seconds(), "accepted/s")
	b.ReportMetric(float64(rss1)/1024, "MB-rss-after-posts")
	b.ReportMetric(float64(rss2)/1024, "MB-rss-after-restart")
	b.ReportMetric(float64(hwm2)/1024, "MB-hwm-restart")
	b.ReportMetric(api.Seconds(), "s-api-after-restart")
	b.ReportMetric(loaded.Seconds(), "s-loaded-after-restart")
	b.ReportMetric(perMsg, "B-file/msg")
	b.Logf("queued=%d accepted=%.0f/s | after posts: VmRSS %.1f MB VmHWM %.1f MB | after restart: VmRSS %.1f MB, start-up VmHWM %.1f MB, API answering after %s, queue loaded after %s | store %.1f MB = %.0f B/message",
		n, float64(n)/took.Seconds(), float64(rss1)/1024, float64(hwm1)/1024, float64(rss2)/1024, float64(hwm2)/1024,
		api.Round(time.Millisecond), loaded.Round(time.Millisecond), float64(fi.Size())/1e6, perMsg)
	b.Logf("RSS parts | after posts: anonymous %.1f MB, file-backed %.1f MB (the store's mapped pages and the binary), %s | after restart: anonymous %.1f MB, file-backed %.1f MB, %s",
		float64(anon1)/1024, float64(file1)/1024, heap1, float64(anon2)/1024, float64(file2)/1024, heap2)
}

// goHeap reads the daemon's own Go memory figures from /metrics (the
// client library's Go collector): heap in use, idle and released.
func goHeap(tb testing.TB, client *http.Client, base string) string {
	tb.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return "no /metrics: " + err.Error()
	}
	defer resp.Body.Close()
	want := map[string]string{
		"go_memstats_heap_inuse_bytes":    "heap in use",
		"go_memstats_heap_idle_bytes":     "heap idle",
		"go_memstats_heap_released_bytes": "released",
		"go_memstats_stack_inuse_bytes":   "stacks",
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if _, ok := want[f[0]]; ok {
				v, _ := strconv.ParseFloat(f[1], 64)
				got[f[0]] = v
			}
		}
	}
	var parts []string
	for _, k := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes"} {
		if v, ok := got[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f MB", want[k], v/1e6))
		}
	}
	if len(parts) == 0 {
		return "Go heap: not on /metrics"
	}
	return "Go " + strings.Join(parts, ", ")
}

// measured is a running daemon, when its API first answered and when its
// dispatcher had loaded the queue.
type measured struct {
	cmd    *exec.Cmd
	done   chan struct{}
	api    time.Time
	loaded time.Time
}

// startMeasured starts the daemon and waits until the API answers and the
// dispatcher has loaded its queue (its "dispatcher running" log line),
// noting when each happened.
func startMeasured(tb testing.TB, bin, cfgPath, base string) *measured {
	tb.Helper()
	cmd := exec.Command(bin, "serve", "-config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	m := &measured{cmd: cmd, done: make(chan struct{})}
	answered := make(chan time.Time, 1)
	go func() {
		for i := 0; i < 60000; i++ {
			select {
			case <-m.done:
				return
			default:
			}
			if resp, err := http.Get(base + "/healthz"); err == nil {
				resp.Body.Close()
				answered <- time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	running := make(chan time.Time, 1)
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "dispatcher running") {
				running <- time.Now()
			}
		}
		_ = cmd.Wait()
	}()
	deadline := time.After(10 * time.Minute)
	select {
	case m.loaded = <-running:
	case <-m.done:
		tb.Fatal("daemon exited before its dispatcher ran")
	case <-deadline:
		_ = cmd.Process.Kill()
		tb.Fatal("dispatcher not running after 10 minutes")
	}
	select {
	case m.api = <-answered:
	case <-m.done:
		tb.Fatal("daemon exited before its API answered")
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		tb.Fatal("API not answering")
	}
	return m
}

func (m *measured) stop(tb testing.TB) {
	tb.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(60 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		tb.Fatal("daemon did not stop within 60s of SIGTERM")
	}
}

// procStatus returns VmRSS and VmHWM of pid in kB.
func procStatus(tb testing.TB, pid int) (rss, hwm int64) {
	v := procFields(tb, pid)
	return v["VmRSS"], v["VmHWM"]
}

// rssParts returns RssAnon and RssFile (+ RssShmem) of pid in kB: what the
// process allocated, and the file pages it has mapped in (bbolt's mmap of
// the store, the binary's text).
func rssParts(tb testing.TB, pid int) (anon, file int64) {
	v := procFields(tb, pid)
	return v["RssAnon"], v["RssFile"] + v["RssShmem"]
}

// procFields reads /proc/<pid>/status's numeric fields (kB for sizes).
func procFields(tb testing.TB, pid int) map[string]int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	v := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			v[strings.TrimSuffix(f[0], ":")] = n
		}
	}
	return v
}
