//go:build cgo

package main

// With cgo enabled (the extpie variants) link the cgo runtime in, as real
// externally linked programs do: the binary then uses the system libc and
// the C linker lays out the Go tables.
import _ "runtime/cgo"
