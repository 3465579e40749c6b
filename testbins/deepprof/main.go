// Command deepprof writes Go's profiles of deep, middleware-style call stacks,
// with what the program knows of those stacks itself.
//
// Usage: deepprof OUTDIR
//
// Each "site" runs a chain of layers (methods called through an interface, with
// an inlined helper, alternating with closures called through a func-typed
// handler) of a given number of layers, then a leaf function of its own that
// does the profiled thing: allocate (heap, allocs), block on a channel (block),
// hold a contended mutex (mutex), park (goroutine) or spin (cpu). The leaf
// first records runtime.Callers of its full stack. Chains of 6, 20, 45, 75 and
// 200 layers give stacks of about 20 to 410 logical frames: below and above
// the 32, 64 and 128 frames at which the profilers cut. A last site starts
// goroutines from inside a deep chain: their g is allocated on the system
// stack, so the heap profile sees only the system part of that stack.
//
// Files written to OUTDIR:
//
//	cpu.pb.gz                    CPU profile of the spinning leaves
//	heap.pb.gz, heap.txt         heap profile (debug=0 and debug=1)
//	allocs.pb.gz, allocs.txt     allocs profile
//	block.pb.gz, block.txt       block profile
//	mutex.pb.gz, mutex.txt       mutex profile
//	goroutine.pb.gz, goroutine.txt, threadcreate.pb.gz, threadcreate.txt
//	sites.json                   {"go_version", "goos", "goarch", "sites": [{"kind",
//	                             "site", "layers", "leaf", "size", "pcs",
//	                             "frames": [{"function", "file", "line"}]}]}
//
// "frames" is runtime.CallersFrames of "pcs", the leaf function first, down to
// runtime.goexit; "size" is the heap leaves' allocation size (every allocation
// is sampled: runtime.MemProfileRate = 1).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Layers of each site's chain, in site order.
var siteLayers = []int{6, 20, 45, 75, 200}

// Ctx travels down the chain; the leaf does the work.
type Ctx struct {
	leaf func(c *Ctx)
	sink int
}

type Handler interface{ Serve(c *Ctx) }

// HandlerFunc adapts a func value to Handler, as net/http's HandlerFunc does.
type HandlerFunc func(c *Ctx)

func (f HandlerFunc) Serve(c *Ctx) { f(c) }

// layer is a middleware struct whose Serve calls the next handler through an
// inlined helper (so deep stacks also carry inlined frames).
type layer struct {
	next Handler
	n    int
}

//go:noinline
func (l *layer) Serve(c *Ctx) {
	l.through(c)
	c.sink += l.n
}

func (l *layer) through(c *Ctx) { l.next.Serve(c) } // inlined into Serve

// closureLayer wraps next in a closure behind HandlerFunc.
func closureLayer(next Handler, n int) Handler {
	return HandlerFunc(func(c *Ctx) {
		next.Serve(c)
		c.sink += n
	})
}

type leafHandler struct{}

//go:noinline
func (leafHandler) Serve(c *Ctx) { c.leaf(c) }

// chain builds layers alternating between layer and closureLayer, with the leaf
// at the bottom.
func chain(layers int) Handler {
	var h Handler = leafHandler{}
	for i := 0; i < layers; i++ {
		if i%2 == 0 {
			h = &layer{next: h, n: i}
		} else {
			h = closureLayer(h, i)
		}
	}
	return h
}

// --- what the program records about itself -------------------------------------------

type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

type Site struct {
	Kind   string   `json:"kind"`
	Site   int      `json:"site"`
	Layers int      `json:"layers"`
	Leaf   string   `json:"leaf"`
	Size   int      `json:"size,omitempty"`
	PCs    []uint64 `json:"pcs"`
	Frames []Frame  `json:"frames"`
}

var (
	recMu sync.Mutex
	sites []Site
)

// record keeps the stack of its caller (the leaf), once per kind and site.
//
//go:noinline
func record(kind string, site, size int) {
	// Not in the heap profile: with every allocation sampled, the frames of
	// deep stacks recorded here would dwarf the leaves' own allocations.
	runtime.MemProfileRate = 0
	defer func() { runtime.MemProfileRate = 1 }()
	buf := make([]uintptr, 4096)
	n := runtime.Callers(2, buf)
	buf = buf[:n]
	s := Site{Kind: kind, Site: site, Layers: siteLayers[site], Size: size}
	frames := runtime.CallersFrames(buf)
	for {
		f, more := frames.Next()
		s.Frames = append(s.Frames, Frame{f.Function, f.File, f.Line})
		if !more {
			break
		}
	}
	for _, pc := range buf {
		s.PCs = append(s.PCs, uint64(pc))
	}
	s.Leaf = s.Frames[0].Function
	recMu.Lock()
	for _, old := range sites {
		if old.Kind == kind && old.Site == site {
			recMu.Unlock()
			return
		}
	}
	sites = append(sites, s)
	recMu.Unlock()
}

// --- heap and allocs: each site allocates its own size ---------------------------------

var keep [][]byte

func heapSize(site int) int { return 4000 + 16*site }

//go:noinline
func heapLeaf0(c *Ctx) { record("heap", 0, heapSize(0)); keep = append(keep, make([]byte, heapSize(0))) }

//go:noinline
func heapLeaf1(c *Ctx) { record("heap", 1, heapSize(1)); keep = append(keep, make([]byte, heapSize(1))) }

//go:noinline
func heapLeaf2(c *Ctx) { record("heap", 2, heapSize(2)); keep = append(keep, make([]byte, heapSize(2))) }

//go:noinline
func heapLeaf3(c *Ctx) { record("heap", 3, heapSize(3)); keep = append(keep, make([]byte, heapSize(3))) }

//go:noinline
func heapLeaf4(c *Ctx) { record("heap", 4, heapSize(4)); keep = append(keep, make([]byte, heapSize(4))) }

var heapLeaves = []func(*Ctx){heapLeaf0, heapLeaf1, heapLeaf2, heapLeaf3, heapLeaf4}

// --- block: wait on a channel that another goroutine fills a little later -------------

//go:noinline
func blockWait() {
	ch := make(chan int)
	go func() { time.Sleep(2 * time.Millisecond); ch <- 1 }()
	<-ch
}

//go:noinline
func blockLeaf0(c *Ctx) { record("block", 0, 0); blockWait() }

//go:noinline
func blockLeaf1(c *Ctx) { record("block", 1, 0); blockWait() }

//go:noinline
func blockLeaf2(c *Ctx) { record("block", 2, 0); blockWait() }

//go:noinline
func blockLeaf3(c *Ctx) { record("block", 3, 0); blockWait() }

//go:noinline
func blockLeaf4(c *Ctx) { record("block", 4, 0); blockWait() }

var blockLeaves = []func(*Ctx){blockLeaf0, blockLeaf1, blockLeaf2, blockLeaf3, blockLeaf4}

// --- mutex: hold a mutex another goroutine waits for; the profile blames Unlock -------

//go:noinline
func mutexHold(c *Ctx) {
	var mu sync.Mutex
	mu.Lock()
	done := make(chan struct{})
	go func() { mu.Lock(); mu.Unlock(); close(done) }()
	time.Sleep(3 * time.Millisecond) // the other goroutine is parked in Lock by now
	mu.Unlock()
	<-done
}

//go:noinline
func mutexLeaf0(c *Ctx) { record("mutex", 0, 0); mutexHold(c) }

//go:noinline
func mutexLeaf1(c *Ctx) { record("mutex", 1, 0); mutexHold(c) }

//go:noinline
func mutexLeaf2(c *Ctx) { record("mutex", 2, 0); mutexHold(c) }

//go:noinline
func mutexLeaf3(c *Ctx) { record("mutex", 3, 0); mutexHold(c) }

//go:noinline
func mutexLeaf4(c *Ctx) { record("mutex", 4, 0); mutexHold(c) }

var mutexLeaves = []func(*Ctx){mutexLeaf0, mutexLeaf1, mutexLeaf2, mutexLeaf3, mutexLeaf4}

// --- goroutine: park until the profile is written ---------------------------------

var release = make(chan struct{})

//go:noinline
func parkLeaf0(c *Ctx) { record("goroutine", 0, 0); <-release }

//go:noinline
func parkLeaf1(c *Ctx) { record("goroutine", 1, 0); <-release }

//go:noinline
func parkLeaf2(c *Ctx) { record("goroutine", 2, 0); <-release }

//go:noinline
func parkLeaf3(c *Ctx) { record("goroutine", 3, 0); <-release }

//go:noinline
func parkLeaf4(c *Ctx) { record("goroutine", 4, 0); <-release }

var parkLeaves = []func(*Ctx){parkLeaf0, parkLeaf1, parkLeaf2, parkLeaf3, parkLeaf4}

// parkSite is the function the go statement starts: the root of its stack.
func parkSite(site int, started *sync.WaitGroup) {
	started.Done()
	chain(siteLayers[site]).Serve(&Ctx{leaf: parkLeaves[site]})
}

// --- cpu: spin for a while --------------------------------------------------------

var spinFor = 400 * time.Millisecond

//go:noinline
func spin(c *Ctx) {
	start := time.Now()
	x := 1
	for time.Since(start) < spinFor {
		for i := 0; i < 1000; i++ {
			x = x*31 + i
		}
	}
	c.sink += x
}

//go:noinline
func cpuLeaf0(c *Ctx) { record("cpu", 0, 0); spin(c) }

//go:noinline
func cpuLeaf1(c *Ctx) { record("cpu", 1, 0); spin(c) }

//go:noinline
func cpuLeaf2(c *Ctx) { record("cpu", 2, 0); spin(c) }

//go:noinline
func cpuLeaf3(c *Ctx) { record("cpu", 3, 0); spin(c) }

//go:noinline
func cpuLeaf4(c *Ctx) { record("cpu", 4, 0); spin(c) }

var cpuLeaves = []func(*Ctx){cpuLeaf0, cpuLeaf1, cpuLeaf2, cpuLeaf3, cpuLeaf4}

// --- goroutines started from deep inside a chain: g allocated on the system stack ----

//go:noinline
func spawnLeaf(c *Ctx) {
	record("spawn", 4, 0)
	var wg sync.WaitGroup
	hold := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() { <-hold; wg.Done() }()
	}
	close(hold)
	wg.Wait()
}

func runSites(leaves []func(*Ctx)) {
	for site, layers := range siteLayers {
		chain(layers).Serve(&Ctx{leaf: leaves[site]})
	}
}

func writeProfile(dir, name string, debug int) {
	ext := ".pb.gz"
	if debug > 0 {
		ext = ".txt"
	}
	f, err := os.Create(filepath.Join(dir, name+ext))
	check(err)
	check(pprof.Lookup(name).WriteTo(f, debug))
	check(f.Close())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "deepprof:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: deepprof OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	runtime.MemProfileRate = 1
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)

	cpu, err := os.Create(filepath.Join(dir, "cpu.pb.gz"))
	check(err)
	check(pprof.StartCPUProfile(cpu))
	runSites(cpuLeaves)
	pprof.StopCPUProfile()
	check(cpu.Close())

	runSites(heapLeaves)
	chain(siteLayers[4]).Serve(&Ctx{leaf: spawnLeaf})
	runSites(blockLeaves)
	runSites(mutexLeaves)

	var started sync.WaitGroup
	for site := range siteLayers {
		started.Add(1)
		go parkSite(site, &started)
	}
	started.Wait()
	for {
		recMu.Lock()
		n := 0
		for _, s := range sites {
			if s.Kind == "goroutine" {
				n++
			}
		}
		recMu.Unlock()
		if n == len(siteLayers) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // all parked in their leaves

	runtime.GC() // the heap profile shows the allocations as of the last GC
	for _, name := range []string{"heap", "allocs", "block", "mutex", "goroutine", "threadcreate"} {
		writeProfile(dir, name, 0)
		writeProfile(dir, name, 1)
	}
	close(release)

	out, err := json.MarshalIndent(map[string]interface{}{
		"go_version": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
		"sites": sites,
	}, "", " ")
	check(err)
	check(os.WriteFile(filepath.Join(dir, "sites.json"), append(out, '\n'), 0o644))
}
