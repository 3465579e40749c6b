// Command gobench measures Go's own debug/gosym package in process on a Go
// binary, as the reference for gosym's library benchmarks, and picks the
// random PCs those benchmarks share.
//
//	gobench pcs [-n N] [-seed S] BINARY
//	    N random return addresses, one hex PC a line: a function chosen
//	    uniformly from the table, then a byte after its entry
//	    (entry < pc < end), as runtime.Callers would report a call in it.
//	gobench lib [-repeat R] [-pcs FILE] [-calls M] BINARY
//	    one JSON object (times in nanoseconds, best of R):
//	      read_ns       open the ELF file, read .gopclntab and the text address
//	      table_ns      gosym.NewLineTable + gosym.NewTable (the table load,
//	                    from the bytes in memory)
//	      pctoline_ns   Table.PCToLine(pc), per call, over the PCs of FILE
//	      pctofunc_ns   Table.PCToFunc(pc), per call
//	      frame_ns      one physical frame per return address, as
//	                    runtime.CallersFrames looks it up without inlining
//	                    (debug/gosym has no inline trees): PCToLine(pc-1),
//	                    then function name, file, line and entry kept in a
//	                    slice
//	    and the same three per call over the first M PCs only (the
//	    one-at-a-time calls: *_calls_ns).
//
// ELF only. Exit status: 0 ok, 2 usage or unreadable file, 3 no table.
package main

import (
	"bufio"
	"debug/elf"
	"debug/pe"
	"debug/gosym"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", args...)
	os.Exit(code)
}

// readTable returns the bytes of .gopclntab and the start of the text
// segment as debug/gosym wants them (runtime.text, else the .text section).
func readTable(path string) ([]byte, uint64) {
	if pf, err := pe.Open(path); err == nil {
		defer pf.Close()
		return readPETable(path, pf)
	}
	f, err := elf.Open(path)
	if err != nil {
		fail(2, "%s: %v", path, err)
	}
	defer f.Close()
	s := f.Section(".gopclntab")
	if s == nil || s.Type == elf.SHT_NOBITS {
		fail(3, "%s: no .gopclntab section", path)
	}
	tab, err := s.Data()
	if err != nil {
		fail(2, "%s: %v", path, err)
	}
	text := headerTextStart(tab, f.ByteOrder)
	if text == 0 {
		text = symbolValue(f, "runtime.text")
	}
	if text == 0 {
		if t := f.Section(".text"); t != nil {
			text = t.Addr
		}
	}
	return tab, text
}

func symbolValue(f *elf.File, name string) uint64 {
	syms, err := f.Symbols()
	if err != nil {
		return 0
	}
	for _, sym := range syms {
		if sym.Name == name {
			return sym.Value
		}
	}
	return 0
}

// headerTextStart is the pcHeader.textStart field of a Go 1.18+ table
// (runtime/symtab.go: magic, two pad bytes, minLC, ptrSize, nfunc, nfiles,
// textStart), or 0 if the table has none (older layouts; Go 1.26+ writes 0).
// The linker fills it with runtime.text (cmd/link/internal/ld/pcln.go).
//
// debug/gosym takes the text start from its caller rather than the header.
// The .text section's address is wrong wherever C code comes first
// (external linking, e.g. cgo), and reading the symbol table for
// runtime.text costs more than the table load on a big binary, so the
// header comes first; the symbol table only for tables without the field.
func headerTextStart(tab []byte, order binary.ByteOrder) uint64 {
	if len(tab) < 8 {
		return 0
	}
	magic := order.Uint32(tab)
	if magic != 0xfffffff0 && magic != 0xfffffff1 {
		return 0
	}
	ptrSize := int(tab[7])
	at := 8 + 2*ptrSize
	if len(tab) < at+ptrSize {
		return 0
	}
	if ptrSize == 4 {
		return uint64(order.Uint32(tab[at:]))
	}
	return order.Uint64(tab[at:])
}

func load(tab []byte, text uint64) *gosym.Table {
	t, err := gosym.NewTable(nil, gosym.NewLineTable(tab, text))
	if err != nil {
		fail(3, "decoding pclntab: %v", err)
	}
	return t
}

func readPCs(path string) []uint64 {
	f, err := os.Open(path)
	if err != nil {
		fail(2, "%v", err)
	}
	defer f.Close()
	var pcs []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(line, "0x"), 16, 64)
		if err != nil {
			fail(2, "%s: bad PC %q", path, line)
		}
		pcs = append(pcs, v)
	}
	return pcs
}

func pcsCmd(args []string) {
	fs := flag.NewFlagSet("pcs", flag.ExitOnError)
	n := fs.Int("n", 1000, "number of PCs")
	seed := fs.Int64("seed", 1, "random seed")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fail(2, "usage: gobench pcs [-n N] [-seed S] BINARY")
	}
	t := load(readTable(fs.Arg(0)))
	rnd := rand.New(rand.NewSource(*seed))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for written := 0; written < *n; {
		fn := t.Funcs[rnd.Intn(len(t.Funcs))]
		if fn.End-fn.Entry < 2 {
			continue
		}
		fmt.Fprintf(w, "%#x\n", fn.Entry+1+uint64(rnd.Int63n(int64(fn.End-fn.Entry-1))))
		written++
	}
}

// Frame is what a symbolizer hands back per physical frame.
type Frame struct {
	Function string
	File     string
	Line     int
	Entry    uint64
}

// best runs f repeat times and returns the shortest duration in nanoseconds.
func best(repeat int, f func()) int64 {
	var min int64 = -1
	for i := 0; i < repeat; i++ {
		t0 := time.Now()
		f()
		if d := time.Since(t0).Nanoseconds(); min < 0 || d < min {
			min = d
		}
	}
	return min
}

var sink int

// perPC times the three lookups over pcs (one untimed pass first) and
// returns nanoseconds per PC.
func perPC(t *gosym.Table, pcs []uint64, repeat int) (pctoline, pctofunc, frame float64) {
	n := float64(len(pcs))
	lines := func() {
		for _, pc := range pcs {
			_, line, _ := t.PCToLine(pc)
			sink += line
		}
	}
	funcs := func() {
		for _, pc := range pcs {
			if fn := t.PCToFunc(pc); fn != nil {
				sink++
			}
		}
	}
	frames := func() {
		out := make([]Frame, 0, len(pcs))
		for _, pc := range pcs {
			file, line, fn := t.PCToLine(pc - 1)
			if fn == nil {
				continue
			}
			out = append(out, Frame{fn.Name, file, line, fn.Entry})
		}
		sink += len(out)
	}
	lines()
	funcs()
	frames()
	return float64(best(repeat, lines)) / n, float64(best(repeat, funcs)) / n,
		float64(best(repeat, frames)) / n
}

func libCmd(args []string) {
	fs := flag.NewFlagSet("lib", flag.ExitOnError)
	repeat := fs.Int("repeat", 5, "timed runs of each measurement (best is reported)")
	pcsPath := fs.String("pcs", "", "file of hex PCs (gobench pcs output)")
	calls := fs.Int("calls", 2000, "PCs for the one-at-a-time measurements")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fail(2, "usage: gobench lib [-repeat R] [-pcs FILE] [-calls M] BINARY")
	}
	path := fs.Arg(0)
	res := map[string]any{"go_version": runtime.Version(), "repeat": *repeat}

	var tab []byte
	var text uint64
	res["read_ns"] = best(*repeat, func() { tab, text = readTable(path) })
	var t *gosym.Table
	res["table_ns"] = best(*repeat, func() { t = load(tab, text) })
	res["functions"] = len(t.Funcs)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res["heap_after_load_bytes"] = ms.HeapAlloc

	if *pcsPath != "" {
		pcs := readPCs(*pcsPath)
		res["pcs"] = len(pcs)
		res["pctoline_ns"], res["pctofunc_ns"], res["frame_ns"] = perPC(t, pcs, *repeat)
		few := pcs
		if *calls < len(few) {
			few = few[:*calls]
		}
		res["calls"] = len(few)
		res["pctoline_calls_ns"], res["pctofunc_calls_ns"], res["frame_calls_ns"] = perPC(t, few, *repeat)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(res); err != nil {
		fail(2, "%v", err)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: gobench pcs|lib [flags] BINARY")
	}
	switch os.Args[1] {
	case "pcs":
		pcsCmd(os.Args[2:])
	case "lib":
		libCmd(os.Args[2:])
	default:
		fail(2, "unknown mode %q: want pcs or lib", os.Args[1])
	}
}

// readPETable finds the table as cmd/internal/objfile/pe.go does: between the
// runtime.pclntab and runtime.epclntab COFF symbols, in their section; the
// text start is the header's, else image base + .text's RVA.
func readPETable(path string, f *pe.File) ([]byte, uint64) {
	var start, end *pe.Symbol
	for _, s := range f.Symbols {
		switch s.Name {
		case "runtime.pclntab":
			start = s
		case "runtime.epclntab":
			end = s
		}
	}
	if start == nil || end == nil || start.SectionNumber < 1 || int(start.SectionNumber) > len(f.Sections) {
		fail(3, "%s: no runtime.pclntab symbol", path)
	}
	sect := f.Sections[start.SectionNumber-1]
	data, err := sect.Data()
	if err != nil || end.Value > uint32(len(data)) || start.Value > end.Value {
		fail(2, "%s: cannot read the table", path)
	}
	tab := data[start.Value:end.Value]
	text := headerTextStart(tab, binary.LittleEndian)
	if text == 0 {
		var base uint64
		switch oh := f.OptionalHeader.(type) {
		case *pe.OptionalHeader64:
			base = oh.ImageBase
		case *pe.OptionalHeader32:
			base = uint64(oh.ImageBase)
		}
		if t := f.Section(".text"); t != nil {
			text = base + uint64(t.VirtualAddress)
		}
	}
	return tab, text
}
