package brokerconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileMode is the mode of every file Write writes: they hold password
// hashes, and the broker reads them as the user it runs as.
const FileMode = 0o600

// Write writes files into dir, which must exist, each with FileMode,
// replacing files of the same names. Every file is written in full to a
// temporary file first and only then renamed into place, so a failure
// before the renames leaves dir as it was.
func Write(dir string, files []File) error {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("brokerconf: output directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("brokerconf: output directory %s is not a directory", dir)
	}
	for _, f := range files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			return fmt.Errorf("brokerconf: file name %q", f.Name)
		}
	}
	tmps := make([]string, 0, len(files))
	defer func() {
		for _, t := range tmps {
			_ = os.Remove(t) // gone already once renamed
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(dir, f)
		if err != nil {
			return err
		}
		tmps = append(tmps, tmp)
	}
	var errs []error
	for i, f := range files {
		if err := os.Rename(tmps[i], filepath.Join(dir, f.Name)); err != nil {
			errs = append(errs, fmt.Errorf("brokerconf: %w", err))
		}
	}
	if err := syncDir(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func writeTemp(dir string, f File) (string, error) {
	t, err := os.CreateTemp(dir, "."+f.Name+".tmp-*") // CreateTemp makes it 0600
	if err != nil {
		return "", fmt.Errorf("brokerconf: %w", err)
	}
	_, err = t.WriteString(f.Content)
	if err == nil {
		err = t.Chmod(FileMode)
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return "", fmt.Errorf("brokerconf: writing %s: %w", f.Name, err)
	}
	return t.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("brokerconf: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("brokerconf: syncing %s: %w", dir, err)
	}
	return nil
}
