package schema

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxFileSize is the largest fleet file Tether reads (40 MiB, about 250k accounts),
// whatever its extension. A bigger file is refused rather than risk memory on a shared
// CI runner; a fleet that large belongs in a folder, one file per parent.
const MaxFileSize = 40 << 20

// readFleetFile is the one way a fleet file's bytes reach a parser, YAML or CUE. A
// fleet comes from a git repository or a folder someone else may write to, so what
// its name points at is not trusted:
//
//   - a symbolic link must stay inside the folder that holds it: a link to a token
//     file, /etc/shadow or a file of another tenant is refused, and the content is
//     never read, so no error can quote it;
//   - only a regular file is read: a FIFO would block forever and /dev/zero never
//     ends. The file is opened non-blocking (a FIFO opens at once) and checked on
//     the open descriptor, so a file swapped after a check cannot slip through;
//   - at most MaxFileSize bytes, counted as read, not as Stat says: a file that
//     grows while being read is refused too;
//   - text only: UTF-8, no NUL byte, not UTF-16, each reported at its position.
//
// Every refusal is one TETHER-LOAD diagnostic on the file, with a fix.
func readFleetFile(file string) ([]byte, *Diagnostic) {
	// A refusal is about the whole file, so it points at its start: editors and CI
	// annotations jump to file:1:1 (a missing file has no line, only its name).
	diag := func(msg, fix string) *Diagnostic {
		return &Diagnostic{Pos: Pos{File: file, Line: 1, Col: 1}, Rule: RuleLoad, Message: msg, Fix: fix}
	}
	cannot := func(err error) *Diagnostic {
		return &Diagnostic{Pos: Pos{File: file}, Rule: RuleLoad, Message: fmt.Sprintf("cannot read %s: %v", file, unwrapPathErr(err)),
			Fix: "check the file exists and is readable"}
	}
	lst, err := os.Lstat(file)
	if err != nil {
		return nil, cannot(err)
	}
	if lst.Mode()&os.ModeSymlink != 0 {
		if d := linkInside(file); d != nil {
			return nil, d
		}
	}
	fh, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, cannot(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, cannot(err)
	}
	if !st.Mode().IsRegular() {
		what := "not a regular file"
		switch {
		case st.IsDir():
			what = "a folder"
		case st.Mode()&os.ModeNamedPipe != 0:
			what = "a FIFO (named pipe), not a regular file"
		case st.Mode()&os.ModeDevice != 0:
			what = "a device, not a regular file"
		case st.Mode()&os.ModeSocket != 0:
			what = "a socket, not a regular file"
		}
		return nil, diag(fmt.Sprintf("%s is %s", file, what),
			"point Tether at the fleet's YAML or CUE files, or at their folder")
	}
	tooBig := func(size string) *Diagnostic {
		return diag(fmt.Sprintf("file is %s, over the %d MiB limit for one fleet file", size, MaxFileSize>>20),
			"split the fleet into a folder with one file per parent")
	}
	if st.Size() > MaxFileSize {
		return nil, tooBig(fmt.Sprintf("%.1f MiB", float64(st.Size())/(1<<20)))
	}
	// Read into a buffer of the size Stat gave (io.ReadAll grew one by doubling:
	// 35 MB allocated and copied for a 16 MB fleet); a file that grew meanwhile
	// grows it.
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(fh, MaxFileSize+1)); err != nil {
		return nil, cannot(err)
	}
	data := buf.Bytes()
	if len(data) > MaxFileSize { // grew between Stat and reading
		return nil, tooBig("more than that")
	}
	if ds := checkText(file, data); len(ds) > 0 {
		return nil, &ds[0]
	}
	return data, nil
}

// linkInside refuses a symbolic link whose target (through every link on the way)
// is outside the folder holding the link. The target is not named: it is not the
// fleet's text, and the message must not help probe the machine.
func linkInside(file string) *Diagnostic {
	dir, err := filepath.EvalSymlinks(filepath.Dir(file))
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	target, err2 := filepath.EvalSymlinks(file)
	if err2 == nil {
		target, err2 = filepath.Abs(target)
	}
	if err != nil || err2 != nil {
		return &Diagnostic{Pos: Pos{File: file, Line: 1, Col: 1}, Rule: RuleLoad,
			Message: file + " is a symbolic link that does not resolve",
			Fix:     "remove the link or point it at a fleet file in the same folder"}
	}
	if rel, err := filepath.Rel(dir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return &Diagnostic{Pos: Pos{File: file, Line: 1, Col: 1}, Rule: RuleLoad,
			Message: file + " is a symbolic link to a file outside the fleet folder; it is not read",
			Fix:     "copy the file into the fleet folder, or link only to files inside it"}
	}
	return nil
}
