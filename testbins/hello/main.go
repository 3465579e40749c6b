// Command hello is a tiny program used as the first example binary.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func greet(name string) string {
	return "hello, " + name
}

func main() {
	who := "world"
	if len(os.Args) > 1 {
		who = os.Args[1]
	}
	fmt.Println(greet(who))
}
