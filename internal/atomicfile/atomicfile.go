// Package atomicfile writes a file so that a reader sees the old content or the new,
// never a part: the data goes to a temporary file in the same folder, is synced, and
// replaces the file by a rename. Tether's state, the sandbox's servers and the watch
// daemon's records all write through it. (google/renameio does the same but does not
// build on Windows, a release target.)
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, with file mode perm.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
