// Package main is built as a C shared library (-buildmode=c-shared) and as a
// Go plugin (-buildmode=plugin): Go code whose table lives in a shared object.
package main

import "C"

import "strings"

//go:noinline
func shout(s string) string {
	return strings.ToUpper(s) + "!"
}

// Shout is what a plugin's user looks up.
func Shout(s string) string { return shout(s) }

//export GosymShoutLen
func GosymShoutLen(n C.int) C.int {
	return C.int(len(shout(strings.Repeat("a", int(n)))))
}

func main() {}
