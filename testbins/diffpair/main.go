// Command diffpair is built several ways (without and with PGO, with two Go
// versions, with -gcflags=-l) so that `gosym diff` can be held to the
// compiler's own listings and to stack bytes the runtime itself reports.
//
// Its workload is the shape of golang/go#65532: walk is recursive and calls
// process, whose frame holds a 16 KiB buffer. process is too big for the
// inliner's normal budget, but in a CPU profile of the workload the call is
// hot, so a PGO build inlines it into walk and every level of the recursion
// grows by the buffer.
//
//	diffpair -cpuprofile FILE   run the workload under the CPU profiler;
//	                            FILE is the PGO profile (default.pgo)
//	diffpair OUTDIR             park goroutines with known stacks and write,
//	                            into OUTDIR:
//	  measure.json          walk's frame bytes per recursion level, measured
//	                        as the distance between a local of consecutive
//	                        levels (pointers, so stack copies adjust them)
//	  goroutine.debug0.pb.gz, goroutine.debug1.txt, goroutine.debug2.txt
//	                        the goroutine profile in its three forms
//	  traceback.txt         a GOTRACEBACK=system crash of a child process
//	                        that parks the same goroutines: fp= and sp= of
//	                        every frame, as the runtime measured them
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// process works on a large local buffer (it does not escape, so it is part of
// process's frame). Its body costs more than the inliner's default budget of
// 80 and much less than the PGO budget for hot calls (2000).
func process(data []byte, seed int) int {
	var buf [16384]byte
	for i := range buf {
		buf[i] = data[(i+seed)%len(data)] ^ byte(i)
	}
	sum := 0
	for i := 0; i < len(buf); i += 7 {
		sum += int(buf[i]) * (i%5 + 1)
		if sum > 1<<40 {
			sum = mix(sum)
		}
	}
	for i := len(buf) - 1; i > 0; i -= 13 {
		sum ^= int(buf[i]) << (uint(i) % 17)
	}
	return sum
}

// mix is small enough to be inlined everywhere (unless -gcflags=-l).
func mix(x int) int {
	return x*31 + x>>7
}

// frame is one level of walk's recursion; its address is passed down, so the
// leaf sees every level's frame position (the runtime adjusts these pointers
// when it copies the stack).
type frame struct {
	parent *frame
	depth  int
}

var parkCh = make(chan int)

// walk recurses depth levels, calling process on the way down.
func walk(depth int, data []byte, parent *frame, out *[]uintptr, park bool) int {
	f := frame{parent: parent, depth: depth}
	if depth == 0 {
		if out != nil {
			*out = distances(&f)
		}
		if park {
			return parkHere(&f)
		}
		return mix(f.depth)
	}
	s := process(data, depth)
	return s + walk(depth-1, data, &f, out, park)
}

// distances returns the bytes between the frame records of consecutive
// levels, leaf first: the frame size of walk at its recursive call.
//
//go:noinline
func distances(leaf *frame) []uintptr {
	var d []uintptr
	for f := leaf; f.parent != nil; f = f.parent {
		d = append(d, uintptr(unsafe.Pointer(f.parent))-uintptr(unsafe.Pointer(f)))
	}
	return d
}

// parkHere blocks for good; it is inlined into walk unless -gcflags=-l.
func parkHere(f *frame) int {
	ready.Done()
	return <-parkCh + f.depth
}

// Generic shapes: two functions printed as main.total[...] in every build.
//
//go:noinline
func total[T int | float64](xs []T) T {
	var s T
	for _, x := range xs {
		s += x
	}
	return s
}

var ready sync.WaitGroup

// depths of the parked goroutines: one goroutine per entry.
var depths = []int{2, 3, 3, 5, 8}

type measurement struct {
	GoVersion string      `json:"go_version"`
	GOARCH    string      `json:"goarch"`
	Depths    []int       `json:"depths"`
	WalkFrame [][]uintptr `json:"walk_frame"` // per goroutine, leaf first
}

func worker(depth int, data []byte, out *[]uintptr, done *sync.WaitGroup) {
	walk(depth, data, nil, out, true)
	done.Done()
}

// parkAll starts one goroutine per depth and waits until all are parked.
func parkAll(data []byte) [][]uintptr {
	out := make([][]uintptr, len(depths))
	var done sync.WaitGroup
	ready.Add(len(depths))
	for i, d := range depths {
		done.Add(1)
		go worker(d, data, &out[i], &done)
	}
	ready.Wait()
	// A parked goroutine is in its channel receive shortly after Done.
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	time.Sleep(50 * time.Millisecond)
	return out
}

func workload(data []byte, d time.Duration) int {
	sum := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := 0; i < 64; i++ {
			sum += walk(8, data, nil, nil, false)
		}
	}
	return sum + int(total([]int{1, 2, 3})) + int(total([]float64{0.5, 1.5}))
}

func main() {
	data := []byte("golang/go#65532: a hot callee with a big frame, inlined into a recursive caller")
	if len(os.Args) == 3 && os.Args[1] == "-cpuprofile" {
		f, err := os.Create(os.Args[2])
		check(err)
		check(pprof.StartCPUProfile(f))
		sum := workload(data, 3*time.Second)
		pprof.StopCPUProfile()
		check(f.Close())
		fmt.Println(sum)
		return
	}
	if os.Getenv("DIFFPAIR_CHILD") == "1" {
		parkAll(data)
		panic("diffpair: goroutines parked; crashing for their traceback")
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: diffpair OUTDIR | diffpair -cpuprofile FILE")
		os.Exit(2)
	}
	dir := os.Args[1]
	m := measurement{GoVersion: runtime.Version(), GOARCH: runtime.GOARCH, Depths: depths}
	m.WalkFrame = parkAll(data)
	for debug, name := range []string{"goroutine.debug0.pb.gz", "goroutine.debug1.txt",
		"goroutine.debug2.txt"} {
		f, err := os.Create(dir + "/" + name)
		check(err)
		check(pprof.Lookup("goroutine").WriteTo(f, debug))
		check(f.Close())
	}
	b, err := json.MarshalIndent(m, "", " ")
	check(err)
	check(os.WriteFile(dir+"/measure.json", append(b, '\n'), 0o644))
	check(os.WriteFile(dir+"/traceback.txt", childTraceback(), 0o644))
	fmt.Println("parked " + strconv.Itoa(len(depths)) + " goroutines")
}

// childTraceback runs this program again with GOTRACEBACK=system; the child
// parks the same goroutines and panics. Its stderr is the traceback.
// GOSYM_TESTBIN_EXEC, a JSON list, is the command prefix that runs this
// binary (e.g. qemu-user for another architecture).
func childTraceback() []byte {
	var prefix []string
	if p := os.Getenv("GOSYM_TESTBIN_EXEC"); p != "" {
		check(json.Unmarshal([]byte(p), &prefix))
	}
	exe, err := os.Executable()
	check(err)
	argv := append(prefix, exe)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DIFFPAIR_CHILD=1", "GOTRACEBACK=system")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); !ok {
		check(fmt.Errorf("child did not crash as expected: %v", err))
	}
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "diffpair:", err)
		os.Exit(1)
	}
}
