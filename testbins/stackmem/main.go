// Command stackmem parks goroutines with known stacks and writes what the
// runtime says about them, for checking goroutine stack accounting:
//
//	stackmem OUTDIR
//
// writes into OUTDIR
//
//	goroutine.pb.gz      pprof.Lookup("goroutine").WriteTo(w, 0)
//	goroutine.debug1.txt pprof.Lookup("goroutine").WriteTo(w, 1)
//	goroutine.debug2.txt pprof.Lookup("goroutine").WriteTo(w, 2)
//	stack_all.txt        runtime.Stack(buf, true)
//	metrics.json         every runtime/metrics value (writeMetrics below)
//	locals.json          addresses of locals at known depths, [{kind, function, depth, addr}]
//	info.json            Go version, GOOS/GOARCH, main.main's address, the kinds
//	sigquit.txt          stderr of a child (this program re-executed) that parks
//	                     the same goroutines and sends itself SIGQUIT with
//	                     GOTRACEBACK=system (fp= sp= pc= on every frame)
//	panic.txt            stderr of a child that panics with GOTRACEBACK=all
//
// The environment variable GOSYM_TESTBIN_EXEC, a JSON list, is the command
// prefix that runs this binary (e.g. qemu-user for another architecture); the
// children are started through it.
//
// Goroutine kinds (the leaf function names identify them in every form):
//
//	bigframe  bigRoot -> bigFrame (8 KiB local array), parked on a channel receive
//	chain200  chainRoot -> 200 calls through function values (chainA/B/C) -> chainLeaf, parked in WaitGroup.Wait
//	chain60   as chain200 with 60 calls -> chain60Leaf, parked in Mutex.Lock
//	recurse   recurseRoot -> recurse x300 (about 256-byte frames), parked in time.Sleep
//	spawner   spawnerRoot starts 3 children (childRoot -> childLeaf, parked in Cond.Wait),
//	          then parks in a two-case select
//	labeled   pprof.Do with labels -> labeledLeaf, parked on a channel send
//	many      16 x workerRoot(i) -> workerLeaf, parked on one channel receive
//	inlined   inlRoot -> inlMid (inlined) -> inlLeaf, parked receiving from a nil channel
//	syscall   sysRoot -> sysLeaf, blocked in a read(2) on a pipe
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// addrRecord is one measured address: the address of a local of function
// Function, Depth frames below the goroutine's root function.
type addrRecord struct {
	Kind     string `json:"kind"`
	Function string `json:"function"`
	Depth    int    `json:"depth"`
	Addr     uint64 `json:"addr"`
}

var (
	addrMu sync.Mutex
	addrs  []addrRecord
	ready  sync.WaitGroup
)

func record(kind, function string, depth int, p unsafe.Pointer) {
	addrMu.Lock()
	addrs = append(addrs, addrRecord{kind, function, depth, uint64(uintptr(p))})
	addrMu.Unlock()
}

// --- bigframe --------------------------------------------------------------

//go:noinline
func bigRoot(ch chan int) {
	var mark [2]uintptr
	bigFrame(ch, &mark)
	runtime.KeepAlive(&mark)
}

//go:noinline
func bigFrame(ch chan int, root *[2]uintptr) int {
	var buf [8192]byte
	// Both addresses at the same moment: the stack grew (moved) to make room
	// for this frame, and copystack adjusted the pointer to the root's local.
	record("bigframe", "main.bigRoot", 0, unsafe.Pointer(root))
	record("bigframe", "main.bigFrame", 1, unsafe.Pointer(&buf[0]))
	ready.Done()
	v := <-ch
	buf[v%len(buf)] = byte(v)
	return int(buf[(v+1)%len(buf)])
}

// --- chains through function values ------------------------------------------

var steps [3]func(n int, leaf func()) int

func init() {
	steps = [3]func(int, func()) int{chainA, chainB, chainC}
}

//go:noinline
func chainA(n int, leaf func()) int {
	if n == 0 {
		leaf()
		return 0
	}
	return steps[n%3](n-1, leaf) + 1
}

//go:noinline
func chainB(n int, leaf func()) int {
	if n == 0 {
		leaf()
		return 0
	}
	return steps[n%3](n-1, leaf) + 2
}

//go:noinline
func chainC(n int, leaf func()) int {
	if n == 0 {
		leaf()
		return 0
	}
	return steps[n%3](n-1, leaf) + 3
}

//go:noinline
func chainRoot(kind string, n int, leaf func()) {
	steps[0](n, leaf)
}

var parkWG sync.WaitGroup

//go:noinline
func chainLeaf() {
	ready.Done()
	parkWG.Wait()
}

var parkMu sync.Mutex

//go:noinline
func chain60Leaf() {
	ready.Done()
	parkMu.Lock()
}

// --- recursion -------------------------------------------------------------------

//go:noinline
func recurseRoot(n int) {
	var mark [2]uintptr
	recurse(n, 1, &mark, nil)
	runtime.KeepAlive(&mark)
}

// recurse records, at the bottom, the addresses of its own local, its
// caller's (a frame further up: the stride is the frame size) and the root's,
// all at the same moment: the stack moved while it grew, and copystack
// adjusted the pointers.
//
//go:noinline
func recurse(n, depth int, root *[2]uintptr, parent *[24]uint64) int {
	var pad [24]uint64
	pad[depth%24] = uint64(n)
	if n == 0 {
		record("recurse", "main.recurse", depth, unsafe.Pointer(&pad))
		record("recurse", "main.recurse", depth-1, unsafe.Pointer(parent))
		record("recurse", "main.recurseRoot", 0, unsafe.Pointer(root))
		ready.Done()
		time.Sleep(time.Hour)
		return int(pad[0])
	}
	return recurse(n-1, depth+1, root, &pad) + int(pad[n%24])
}

// --- goroutines created by goroutines ------------------------------------------------

var (
	condMu sync.Mutex
	cond   = sync.NewCond(&condMu)
)

//go:noinline
func spawnerRoot(a, b chan int) {
	for i := 0; i < 3; i++ {
		go childRoot(i)
	}
	ready.Done()
	select {
	case <-a:
	case <-b:
	}
}

//go:noinline
func childRoot(i int) {
	childLeaf(i)
}

//go:noinline
func childLeaf(i int) {
	condMu.Lock()
	ready.Done()
	cond.Wait()
	condMu.Unlock()
}

// --- labels ----------------------------------------------------------------------

//go:noinline
func labeledRoot(ch chan int) {
	labels := pprof.Labels("worker", "w1", "phase", "park now")
	pprof.Do(context.Background(), labels, func(context.Context) { labeledLeaf(ch) })
}

//go:noinline
func labeledLeaf(ch chan int) {
	ready.Done()
	ch <- 1
}

// --- many goroutines, one stack ------------------------------------------------------

//go:noinline
func workerRoot(i int, ch chan int) {
	workerLeaf(i, ch)
}

//go:noinline
func workerLeaf(i int, ch chan int) int {
	ready.Done()
	return i + <-ch
}

// --- an inlined frame in the middle ---------------------------------------------------

//go:noinline
func inlRoot(x int) int {
	return inlMid(x) + 1
}

func inlMid(x int) int { return inlLeaf(x*2) + 3 }

var nilChan chan int

//go:noinline
func inlLeaf(x int) int {
	ready.Done()
	return x + <-nilChan
}

// --- blocked in a system call -------------------------------------------------------------

//go:noinline
func sysRoot(fd int) {
	sysLeaf(fd)
}

//go:noinline
func sysLeaf(fd int) {
	var buf [16]byte
	ready.Done()
	syscall.Read(fd, buf[:])
}

// --- setting up -------------------------------------------------------------------------

// Expected number of goroutines per kind.
var kinds = map[string]int{
	"bigframe": 1, "chain200": 1, "chain60": 1, "recurse": 1, "spawner": 1, "child": 3,
	"labeled": 1, "many": 16, "inlined": 1, "syscall": 1,
}

func park() {
	n := 0
	for _, k := range kinds {
		n += k
	}
	ready.Add(n)
	parkWG.Add(1)
	parkMu.Lock()
	go bigRoot(make(chan int))
	go chainRoot("chain200", 200, chainLeaf)
	go chainRoot("chain60", 60, chain60Leaf)
	go recurseRoot(300)
	go spawnerRoot(make(chan int), make(chan int))
	go labeledRoot(make(chan int))
	workCh := make(chan int)
	for i := 0; i < kinds["many"]; i++ {
		go workerRoot(i, workCh)
	}
	go inlRoot(7)
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		fail(err)
	}
	go sysRoot(fds[0])
	ready.Wait()
	waitParked()
}

// waitParked waits until no goroutine but this one is runnable or running:
// the others have reached their park calls.
func waitParked() {
	buf := make([]byte, 1<<20)
	for i := 0; i < 500; i++ {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
		n := runtime.Stack(buf, true)
		busy := 0
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if strings.HasPrefix(line, "goroutine ") &&
				(strings.Contains(line, "[runnable") || strings.Contains(line, "[running")) {
				busy++
			}
		}
		if busy <= 1 {
			return
		}
	}
	fail(fmt.Errorf("goroutines did not park"))
}

// writeMetrics writes every runtime/metrics value that is a number as one
// JSON object: the input of `gosym stackmem --metrics`.
func writeMetrics(path string) error {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i := range samples {
		samples[i].Name = descs[i].Name
	}
	metrics.Read(samples)
	out := map[string]interface{}{}
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[s.Name] = s.Value.Uint64()
		case metrics.KindFloat64:
			if v := s.Value.Float64(); !math.IsNaN(v) && !math.IsInf(v, 0) {
				out[s.Name] = v
			}
		}
	}
	data, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func writeProfile(path string, debug int) error {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, debug); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func writeJSON(path string, v interface{}) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "stackmem:", err)
	os.Exit(1)
}

// runChild re-executes this program in mode, with GOTRACEBACK=traceback, and
// writes its stderr to path. The child is expected to die (exit status 2).
func runChild(mode, traceback, path string) error {
	var prefix []string
	if p := os.Getenv("GOSYM_TESTBIN_EXEC"); p != "" {
		if err := json.Unmarshal([]byte(p), &prefix); err != nil {
			return fmt.Errorf("GOSYM_TESTBIN_EXEC: %v", err)
		}
	}
	self := os.Args[0]
	argv := append(append([]string{}, prefix...), self, "-child", mode)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOTRACEBACK="+traceback, "GODEBUG=tracebacklabels=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return fmt.Errorf("child %s exited normally", mode)
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return err
	}
	if !bytes.Contains(stderr.Bytes(), []byte("goroutine ")) {
		return fmt.Errorf("child %s printed no traceback: %s", mode, stderr.String())
	}
	return os.WriteFile(path, stderr.Bytes(), 0o644)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-child" {
		park()
		switch os.Args[2] {
		case "sigquit":
			syscall.Kill(os.Getpid(), syscall.SIGQUIT)
			time.Sleep(time.Minute)
		case "panic":
			panic("stackmem: deliberate panic")
		}
		os.Exit(3)
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: stackmem OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	// Go 1.27 prints goroutine labels in traceback headers when tracebacklabels=1
	// (the default only for modules that say go 1.27); the runtime rereads
	// GODEBUG when it changes. Older releases ignore the setting.
	os.Setenv("GODEBUG", "tracebacklabels=1")
	park()
	steps := []func() error{
		func() error { return writeProfile(dir+"/goroutine.pb.gz", 0) },
		func() error { return writeProfile(dir+"/goroutine.debug1.txt", 1) },
		func() error { return writeProfile(dir+"/goroutine.debug2.txt", 2) },
		func() error {
			buf := make([]byte, 8<<20)
			n := runtime.Stack(buf, true)
			return os.WriteFile(dir+"/stack_all.txt", buf[:n], 0o644)
		},
		func() error { return writeMetrics(dir + "/metrics.json") },
		func() error {
			addrMu.Lock()
			defer addrMu.Unlock()
			return writeJSON(dir+"/locals.json", addrs)
		},
		func() error {
			return writeJSON(dir+"/info.json", map[string]interface{}{
				"go_version": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
				"main_main": uint64(reflect.ValueOf(main).Pointer()), "kinds": kinds,
			})
		},
		func() error { return runChild("sigquit", "system", dir+"/sigquit.txt") },
		func() error { return runChild("panic", "all", dir+"/panic.txt") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			fail(err)
		}
	}
}
