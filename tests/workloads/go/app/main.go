// The go workload: goroutines, net/http on loopback, os/exec and files, each checked.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		os.Exit(1)
	}
}

func must(err error, what string) {
	check(err == nil, "%s: %v", what, err)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		fmt.Println("child", os.Getenv("WL_CHILD"))
		os.Exit(5)
	}

	// goroutines, channels, a wait group, atomics, a mutex; busy enough to start several Ms
	var wg sync.WaitGroup
	var total int64
	results := make(chan int, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			s := 0
			for j := 0; j < 200000; j++ {
				s += j % (k + 1)
			}
			atomic.AddInt64(&total, 1)
			results <- s
		}(i)
	}
	wg.Wait()
	close(results)
	n := 0
	for range results {
		n++
	}
	check(n == 64 && total == 64, "goroutines: %d results", n)
	var mu sync.Mutex
	m := map[int]int{}
	var wg2 sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg2.Add(1)
		go func(k int) {
			defer wg2.Done()
			time.Sleep(time.Millisecond)
			mu.Lock()
			m[k] = k
			mu.Unlock()
		}(i)
	}
	wg2.Wait()
	check(len(m) == 8, "mutex map")
	runtime.GC()
	fmt.Println("goroutines ok, GOMAXPROCS", runtime.GOMAXPROCS(0))

	// net/http on loopback: a server and client requests
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err, "listen")
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String() + "/hello"
	for i := 0; i < 20; i++ {
		resp, err := http.Get(url)
		must(err, "http get")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(string(b) == "GET /hello ", "get body %q", b)
	}
	resp, err := http.Post(url, "text/plain", strings.NewReader("data"))
	must(err, "http post")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(string(b) == "POST /hello data", "post body %q", b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	must(srv.Shutdown(ctx), "shutdown")
	cancel()
	addrs, err := net.LookupHost("localhost")
	must(err, "lookup localhost")
	check(len(addrs) > 0, "no address for localhost")
	l6, err := net.Listen("tcp6", "[::1]:0")
	must(err, "listen ::1")
	l6.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(err, "udp")
	u.Close()
	fmt.Println("net/http ok")

	// os/exec: a shell, this binary again, a pipe
	out, err := exec.Command("sh", "-c", "echo hi; exit 0").Output()
	must(err, "exec sh")
	check(string(out) == "hi\n", "sh said %q", out)
	self, err := os.Executable()
	must(err, "os.Executable")
	cmd := exec.Command(self, "child")
	cmd.Env = append(os.Environ(), "WL_CHILD=yes")
	out, err = cmd.Output()
	ee, ok := err.(*exec.ExitError)
	check(ok && ee.ExitCode() == 5 && string(out) == "child yes\n", "child: %v %q", err, out)
	_, err = exec.LookPath("git")
	_ = err
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = exec.CommandContext(ctx2, "sleep", "10").Run()
	cancel2()
	check(err != nil, "CommandContext did not kill sleep")
	fmt.Println("os/exec ok")

	// files: write, read, walk, rename, temp, sync
	must(os.MkdirAll("out/sub", 0o755), "mkdir")
	for i := 0; i < 10; i++ {
		must(os.WriteFile(filepath.Join("out/sub", fmt.Sprintf("f%d", i)), []byte(fmt.Sprint(i)), 0o644), "write")
	}
	f, err := os.Create("out/big")
	must(err, "create")
	buf := make([]byte, 1<<20)
	_, err = rand.Read(buf)
	must(err, "crypto/rand")
	_, err = f.Write(buf)
	must(err, "write big")
	must(f.Sync(), "fsync")
	must(f.Close(), "close")
	data, err := os.ReadFile("out/big")
	must(err, "read big")
	check(sha256.Sum256(data) == sha256.Sum256(buf), "read back differs")
	count := 0
	must(filepath.WalkDir("out", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			count++
		}
		return err
	}), "walk")
	check(count == 11, "walk saw %d", count)
	must(os.Rename("out/big", "out/big2"), "rename")
	tmp, err := os.MkdirTemp("", "wl")
	must(err, "MkdirTemp")
	check(strings.HasPrefix(tmp, "/tmp/"), "tmp %s", tmp)
	must(os.RemoveAll(tmp), "RemoveAll")
	fmt.Println("files ok")

	// signals
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	must(syscall.Kill(os.Getpid(), syscall.SIGUSR1), "kill self")
	select {
	case <-sigs:
	case <-time.After(5 * time.Second):
		check(false, "no SIGUSR1")
	}
	fmt.Println("signals ok")
}
