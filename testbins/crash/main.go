// Command crash dies of a nil dereference a few calls deep, with another
// goroutine parked, so that GOTRACEBACK=crash prints every goroutine and the
// kernel (or qemu-user) writes a core file of the process.
package main

import (
	"fmt"
	"os"
	"time"
)

type counter struct{ n int }

// add is small enough to be inlined into its callers.
func (c *counter) add(k int) { c.n += k }

type adder interface{ add(int) }

//go:noinline
func deref(p *int) int {
	return *p
}

//go:noinline
func descend(depth int, a adder) int {
	a.add(depth) // through an interface: a method call on the heap object
	if depth == 0 {
		var p *int
		if len(os.Args) > 5 {
			p = new(int)
		}
		return deref(p)
	}
	return descend(depth-1, a) + 1
}

func main() {
	parked := make(chan int)
	go func() { time.Sleep(time.Hour); parked <- 1 }()
	c := &counter{}
	c.add(1)
	fmt.Println(descend(3, c), <-parked)
}
