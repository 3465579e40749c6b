// Command goroutines parks goroutines in known states, writes what the
// runtime says about itself into OUTDIR and then holds still, so that a reader
// of its memory (a live snapshot or a core dump) can be compared with the
// runtime's own answers:
//
//	goroutines OUTDIR [churn]
//
// Files written to OUTDIR, in this order:
//
//	stacks.txt     runtime.Stack(buf, true): the debug=2 goroutine dump
//	roles.json     per role: the goroutine id, the id of the goroutine that
//	               started it (0: main) and the goroutine's own
//	               runtime.Callers frames taken just before it parked (never
//	               elided, so the frames a traceback elides can be checked too)
//	metrics.json   /memory/classes/heap/stacks:bytes and friends (runtime/metrics)
//	ready          {"pid", "go_version", "goarch", "main_goid"}: everything is written
//
// After that every goroutine stays where it is except "running", which spins.
// The runtime's dump with frame pointers is then had from SIGQUIT with
// GOTRACEBACK=system (fp= sp= pc= on every frame, system goroutines too), or
// GOTRACEBACK=crash for a core dump in the same state.
//
// With "churn", goroutines are then started and ended without pause.
//
// GC is switched off before the dump (debug.SetGCPercent(-1)) so that no
// stack is moved or shrunk between the runtime's answers and a snapshot.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

type Role struct {
	Name    string  `json:"name"`
	Goid    int     `json:"goid"`
	Frames  []Frame `json:"frames"`
	Creator int     `json:"creator"` // goid of the goroutine that started it
}

var (
	rolesMu sync.Mutex
	roles   []Role
	parked  sync.WaitGroup
)

// goid is the current goroutine's id, from the runtime's own header line.
func goid() int {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	id, _ := strconv.Atoi(f[1])
	return id
}

// record notes the calling goroutine under name with its full call stack
// (everything above record itself), then lets main know it is about to park.
//
//go:noinline
func record(name string, creator int) {
	pcs := make([]uintptr, 4096)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var fs []Frame
	for {
		f, more := frames.Next()
		fs = append(fs, Frame{f.Function, f.File, f.Line})
		if !more {
			break
		}
	}
	rolesMu.Lock()
	roles = append(roles, Role{name, goid(), fs, creator})
	rolesMu.Unlock()
	parked.Done()
}

var (
	never     = make(chan int) // only ever received from
	never2    = make(chan int) // only ever sent to, by selectTwo
	noReader  = make(chan int) // only ever sent to, by chanSend
	pipeW     *os.File         // kept: its finalizer would close the pipe
	mu        sync.Mutex
	rw        sync.RWMutex
	cond      = sync.NewCond(&sync.Mutex{})
	neverWG   sync.WaitGroup
	sink      int
	spinCount int64
)

//go:noinline
func chanReceive() {
	record("chan_receive", 0)
	<-never
}

//go:noinline
func chanSend() {
	record("chan_send", 0)
	noReader <- 1
}

//go:noinline
func nilChanReceive() {
	var c chan int
	record("chan_receive_nil", 0)
	<-c
}

//go:noinline
func selectTwo() {
	record("select", 0)
	select {
	case <-never:
	case never2 <- 1:
	}
}

//go:noinline
func selectNone() {
	record("select_no_cases", 0)
	select {}
}

//go:noinline
func mutexLock() {
	record("mutex", 0)
	mu.Lock()
}

//go:noinline
func rwRLock() {
	record("rwmutex_rlock", 0)
	rw.RLock()
}

//go:noinline
func waitGroupWait() {
	record("waitgroup", 0)
	neverWG.Wait()
}

//go:noinline
func condWait() {
	cond.L.Lock()
	record("cond", 0)
	cond.Wait()
}

//go:noinline
func sleeper() {
	record("sleep", 0)
	time.Sleep(time.Hour)
}

// blockingRead reads from a pipe in blocking mode with a raw system call:
// the goroutine stays in the _Gsyscall state.
//
//go:noinline
func blockingRead(fd int) {
	record("syscall", 0)
	var b [1]byte
	syscall.Read(fd, b[:])
}

// pollRead reads from an os.Pipe, which the runtime's netpoller waits on.
//
//go:noinline
func pollRead(f *os.File) {
	record("io_wait", 0)
	var b [1]byte
	f.Read(b[:])
}

// spin runs until the process exits; its goroutine is running on a thread.
//
//go:noinline
func spin() {
	record("running", 0)
	for {
		spinStep()
	}
}

//go:noinline
func spinStep() {
	for i := 0; i < 1000; i++ {
		spinCount++
	}
}

//go:noinline
func recurse(n int, name string) int {
	if n == 0 {
		if name == "" {
			return 0
		}
		record(name, 0)
		<-never
		return 0
	}
	return recurse(n-1, name) + 1
}

// Inlined into their caller: their frames come from the inline tree.
func inlInner() { <-never }
func inlOuter() { inlInner() }

//go:noinline
func inlinedPark() {
	record("inlined", 0)
	inlOuter()
}

//go:noinline
func bigFrame() {
	var big [16384]byte
	big[len(big)-1] = 1
	record("big_frame", 0)
	<-never
	sink += int(big[100])
}

//go:noinline
func parkGeneric[T any](v T) {
	record("generic", 0)
	<-never
	_ = v
}

//go:noinline
func labeled() {
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("role", "labeled", "req", "42"))
	pprof.SetGoroutineLabels(ctx)
	record("labels", 0)
	<-never
}

//go:noinline
func locked() {
	runtime.LockOSThread()
	record("locked", 0)
	<-never
}

//go:noinline
func parent() {
	me := goid()
	parked.Add(1)
	go child(me)
	record("parent", 0)
	<-never
}

//go:noinline
func child(creator int) {
	record("child", creator)
	<-never
}

//go:noinline
func crowd(i int) {
	record(fmt.Sprintf("crowd_%d", i), 0)
	<-never
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || len(os.Args) == 3 && os.Args[2] != "churn" {
		fmt.Fprintln(os.Stderr, "usage: goroutines OUTDIR [churn]")
		os.Exit(2)
	}
	out := os.Args[1]

	mu.Lock()
	rw.Lock()
	neverWG.Add(1)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	pipeW = pw

	starts := []func(){
		chanReceive, chanSend, nilChanReceive, selectTwo, selectNone, mutexLock,
		rwRLock, waitGroupWait, condWait, sleeper, func() { blockingRead(p[0]) },
		func() { pollRead(pr) }, spin, func() { recurse(300, "deep") },
		func() { recurse(20, "recursion") }, inlinedPark, bigFrame,
		func() { parkGeneric(7) }, func() { parkGeneric("s") }, labeled, locked, parent,
	}
	for i := 0; i < 8; i++ {
		i := i
		starts = append(starts, func() { crowd(i) })
	}
	parked.Add(len(starts))
	for _, f := range starts {
		go f()
	}
	parked.Wait()
	// record runs just before each goroutine blocks: give them time to get there.
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	debug.SetGCPercent(-1)
	dump(out)
	if len(os.Args) == 3 {
		churn()
	}
	<-never
}

// churn starts and ends goroutines without pause, up to 1000 at a time, so
// that the goroutine list changes under a reader that does not stop it.
func churn() {
	sem := make(chan struct{}, 1000)
	for i := 0; ; i++ {
		sem <- struct{}{}
		go func(i int) {
			if i%2 == 0 {
				time.Sleep(time.Millisecond)
			} else {
				recurse(i%50+1, "")
			}
			<-sem
		}(i)
	}
}

// dump writes the files described at the top, ready last.
func dump(out string) {
	buf := make([]byte, 1<<22)
	n := runtime.Stack(buf, true)
	writeFile(filepath.Join(out, "stacks.txt"), buf[:n])
	rolesMu.Lock()
	writeJSON(filepath.Join(out, "roles.json"), roles)
	rolesMu.Unlock()

	names := []string{"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes",
		"/sched/goroutines:goroutines"}
	samples := make([]metrics.Sample, 0, len(names))
	for _, name := range names {
		samples = append(samples, metrics.Sample{Name: name})
	}
	metrics.Read(samples)
	vals := map[string]any{}
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			vals[s.Name] = s.Value.Uint64()
		}
	}
	writeJSON(filepath.Join(out, "metrics.json"), vals)
	writeJSON(filepath.Join(out, "ready"), map[string]any{
		"pid": os.Getpid(), "go_version": runtime.Version(), "goarch": runtime.GOARCH,
		"main_goid": goid(),
	})
}

func writeJSON(path string, v any) {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		panic(err)
	}
	writeFile(path, data)
}

// writeFile writes through a temporary name, so readers never see half a file.
func writeFile(path string, data []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		panic(err)
	}
}
