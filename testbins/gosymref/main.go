// Command gosymref prints the function table that the standard library's
// debug/gosym package decodes from a Go binary, as JSON:
//
//	{"funcs":[{"name":"...","entry":N,"end":N},...]}
//
// in table order. It is the reference answer for binaries we did not build.
//
// Usage: gosymref [-arch amd64|arm64] BINARY
//
// Exit status: 0 ok, 2 usage or unreadable file, 3 no pclntab found.
package main

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

type Func struct {
	Name  string `json:"name"`
	Entry uint64 `json:"entry"`
	End   uint64 `json:"end"`
}

type Output struct {
	Format   string `json:"format"`
	Section  string `json:"section"`
	TextAddr uint64 `json:"text_start"`
	Funcs    []Func `json:"funcs"`
}

var errNoTable = fmt.Errorf("no pclntab found")

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gosymref: "+format+"\n", args...)
	os.Exit(code)
}

func elfSymbols(f *elf.File) map[string]uint64 {
	m := map[string]uint64{}
	syms, err := f.Symbols()
	if err != nil {
		return m
	}
	for _, s := range syms {
		m[s.Name] = s.Value
	}
	return m
}

// readAddrRange reads [start, end) virtual addresses from the ELF segment or
// section that contains them.
func elfReadRange(f *elf.File, start, end uint64) ([]byte, error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && start >= p.Vaddr && end <= p.Vaddr+p.Filesz {
			buf := make([]byte, end-start)
			_, err := p.ReadAt(buf, int64(start-p.Vaddr))
			return buf, err
		}
	}
	return nil, fmt.Errorf("range %#x-%#x not in a loaded segment", start, end)
}

func fromELF(f *elf.File) ([]byte, uint64, string, error) {
	syms := elfSymbols(f)
	var tab []byte
	var where string
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			data, err := s.Data()
			if err != nil {
				return nil, 0, "", err
			}
			tab, where = data, name
			break
		}
	}
	if tab == nil {
		start, ok1 := syms["runtime.pclntab"]
		end, ok2 := syms["runtime.epclntab"]
		if !ok1 || !ok2 || end <= start {
			return nil, 0, "", errNoTable
		}
		data, err := elfReadRange(f, start, end)
		if err != nil {
			return nil, 0, "", err
		}
		tab, where = data, "symbols:runtime.pclntab"
	}
	text, ok := syms["runtime.text"]
	if !ok {
		if s := f.Section(".text"); s != nil {
			text = s.Addr
		}
	}
	return tab, text, where, nil
}

func fromMachO(f *macho.File) ([]byte, uint64, string, error) {
	var tab []byte
	var where string
	if s := f.Section("__gopclntab"); s != nil {
		data, err := s.Data()
		if err != nil {
			return nil, 0, "", err
		}
		tab, where = data, "__gopclntab"
	}
	syms := map[string]uint64{}
	if f.Symtab != nil {
		for _, s := range f.Symtab.Syms {
			syms[s.Name] = s.Value
		}
	}
	if tab == nil {
		start, ok1 := syms["runtime.pclntab"]
		end, ok2 := syms["runtime.epclntab"]
		if !ok1 || !ok2 || end <= start {
			return nil, 0, "", errNoTable
		}
		for _, s := range f.Sections {
			if start >= s.Addr && end <= s.Addr+s.Size {
				data, err := s.Data()
				if err != nil {
					return nil, 0, "", err
				}
				tab, where = data[start-s.Addr:end-s.Addr], "symbols:runtime.pclntab"
				break
			}
		}
		if tab == nil {
			return nil, 0, "", errNoTable
		}
	}
	text, ok := syms["runtime.text"]
	if !ok {
		if s := f.Section("__text"); s != nil {
			text = s.Addr
		}
	}
	return tab, text, where, nil
}

// fromPE finds the table as cmd/internal/objfile/pe.go does, through the
// runtime.pclntab and runtime.epclntab COFF symbols (value: offset in the
// section; address: image base + section RVA + value); without symbols (-s),
// at the first table magic in a data section that debug/gosym decodes.
func fromPE(f *pe.File) ([]byte, uint64, string, error) {
	var imageBase uint64
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		imageBase = uint64(oh.ImageBase)
	case *pe.OptionalHeader64:
		imageBase = oh.ImageBase
	}
	syms := map[string]*pe.Symbol{}
	for _, s := range f.Symbols {
		if _, ok := syms[s.Name]; !ok {
			syms[s.Name] = s
		}
	}
	addr := func(s *pe.Symbol) (uint64, bool) {
		if s == nil || s.SectionNumber < 1 || int(s.SectionNumber) > len(f.Sections) {
			return 0, false
		}
		return imageBase + uint64(f.Sections[s.SectionNumber-1].VirtualAddress) + uint64(s.Value), true
	}
	var text uint64
	if t, ok := addr(syms["runtime.text"]); ok {
		text = t
	} else if s := f.Section(".text"); s != nil {
		text = imageBase + uint64(s.VirtualAddress)
	}
	if start, ok := syms["runtime.pclntab"]; ok {
		end, ok := syms["runtime.epclntab"]
		if !ok || end.SectionNumber != start.SectionNumber || end.Value < start.Value {
			return nil, 0, "", errNoTable
		}
		data, err := f.Sections[start.SectionNumber-1].Data()
		if err != nil || uint64(end.Value) > uint64(len(data)) {
			return nil, 0, "", fmt.Errorf("reading pclntab: %v", err)
		}
		return data[start.Value:end.Value], text, "symbols runtime.pclntab/epclntab", nil
	}
	for _, s := range f.Sections {
		if s.Name == ".text" || s.Characteristics&pe.IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for _, magic := range []uint32{0xfffffff1, 0xfffffff0, 0xfffffffa, 0xfffffffb} {
			var needle [6]byte
			binary.LittleEndian.PutUint32(needle[:], magic)
			for off := 0; ; {
				i := bytes.Index(data[off:], needle[:])
				if i < 0 {
					break
				}
				at := off + i
				off = at + 1
				if at%4 != 0 {
					continue
				}
				t, err := gosym.NewTable(nil, gosym.NewLineTable(data[at:], text))
				if err == nil && len(t.Funcs) > 0 {
					return data[at:], text, "magic in " + s.Name, nil
				}
			}
		}
	}
	return nil, 0, "", errNoTable
}

func main() {
	arch := flag.String("arch", "", "slice of a fat Mach-O file to use (amd64 or arm64); default: the first")
	flag.Parse()
	if flag.NArg() != 1 {
		fail(2, "usage: gosymref [-arch ARCH] BINARY")
	}
	path := flag.Arg(0)
	r, err := os.Open(path)
	if err != nil {
		fail(2, "%v", err)
	}
	defer r.Close()

	var tab []byte
	var text uint64
	var where, format string
	if ef, err := elf.NewFile(r); err == nil {
		format = "elf"
		tab, text, where, err = fromELF(ef)
		if err != nil {
			exitFor(err)
		}
	} else if mf, err := macho.NewFile(r); err == nil {
		format = "macho"
		tab, text, where, err = fromMachO(mf)
		if err != nil {
			exitFor(err)
		}
	} else if ff, err := macho.NewFatFile(r); err == nil {
		format = "macho-fat"
		var mf *macho.File
		for _, a := range ff.Arches {
			if *arch == "" || archName(a.Cpu) == *arch {
				mf = a.File
				break
			}
		}
		if mf == nil {
			fail(2, "no slice for arch %q", *arch)
		}
		tab, text, where, err = fromMachO(mf)
		if err != nil {
			exitFor(err)
		}
	} else if pf, err := pe.NewFile(r); err == nil {
		format = "pe"
		tab, text, where, err = fromPE(pf)
		if err != nil {
			exitFor(err)
		}
	} else {
		fail(2, "%s: not an ELF, Mach-O or PE file", path)
	}

	table, err := gosym.NewTable(nil, gosym.NewLineTable(tab, text))
	if err != nil {
		fail(3, "decoding pclntab: %v", err)
	}
	out := Output{Format: format, Section: where, TextAddr: text, Funcs: make([]Func, 0, len(table.Funcs))}
	for _, fn := range table.Funcs {
		out.Funcs = append(out.Funcs, Func{Name: fn.Name, Entry: fn.Entry, End: fn.End})
	}
	w := io.Writer(os.Stdout)
	enc := json.NewEncoder(w)
	if err := enc.Encode(&out); err != nil {
		fail(2, "%v", err)
	}
}

func exitFor(err error) {
	if err == errNoTable {
		fail(3, "%v", err)
	}
	fail(2, "%v", err)
}

func archName(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "amd64"
	case macho.CpuArm64:
		return "arm64"
	case macho.Cpu386:
		return "386"
	}
	return c.String()
}
