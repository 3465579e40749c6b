// Command manygoroutines parks N goroutines (default 100,000) at a few call
// depths and in a few states, times runtime.Stack(buf, true) on itself, and
// writes OUTDIR/ready with the result; then it holds still until killed.
//
//	manygoroutines OUTDIR [N]
//
// ready: {"pid", "goroutines", "stack_seconds", "stack_bytes", "go_version"}
// where stack_seconds is the best of three runtime.Stack(buf, true) calls
// (the world is stopped for all of each call).
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var (
	never = make(chan int)
	mu    sync.Mutex
	wg    sync.WaitGroup
)

//go:noinline
func depth(n, kind int) {
	if n > 0 {
		depth(n-1, kind)
		return
	}
	wg.Done()
	switch kind {
	case 0:
		<-never
	case 1:
		select {
		case <-never:
		case <-time.After(24 * time.Hour):
		}
	case 2:
		mu.Lock()
	default:
		time.Sleep(24 * time.Hour)
	}
}

func main() {
	out := os.Args[1]
	n := 100000
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	mu.Lock()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go depth(i%8, i%4)
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()

	buf := make([]byte, 256<<20)
	best := time.Duration(1 << 62)
	size := 0
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		size = runtime.Stack(buf, true)
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	data, _ := json.Marshal(map[string]any{
		"pid": os.Getpid(), "goroutines": runtime.NumGoroutine(),
		"stack_seconds": best.Seconds(), "stack_bytes": size, "go_version": runtime.Version(),
	})
	tmp := filepath.Join(out, "ready.tmp")
	os.WriteFile(tmp, data, 0o644)
	os.Rename(tmp, filepath.Join(out, "ready"))
	<-never
}
