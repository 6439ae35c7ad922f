// Package mosquitto writes the enrolled units' secrets into Mosquitto's
// password file, hashed as mosquitto_passwd does: an external broker checks
// its own accounts, not the hub's secrets.
package mosquitto

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Mosquitto 2's password hash, as mosquitto_passwd writes it:
// user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>.
const (
	mosquittoIterations = 101
	mosquittoSaltLen    = 12
	mosquittoHashLen    = 64
)

// Hash hashes a password the way mosquitto_passwd does.
func Hash(password string) (string, error) {
	salt := make([]byte, mosquittoSaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	key, err := pbkdf2.Key(sha512.New, password, salt, mosquittoIterations, mosquittoHashLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$7$%d$%s$%s", mosquittoIterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
}

// WritePasswd puts every unit's secret (secrets[i] is units[i]'s) into a
// Mosquitto password file: the units' lines are replaced or added, every other line (the hub's
// own account, other devices) is kept. The file is replaced atomically and
// keeps its mode (0600 for a new one). Mosquitto reads it at start and on
// SIGHUP.
func WritePasswd(path string, units, secrets []string) error {
	ours := make(map[string]bool, len(units))
	for _, u := range units {
		ours[u] = true
	}
	var b bytes.Buffer
	mode := fs.FileMode(0o600)
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
		sc := bufio.NewScanner(bytes.NewReader(old))
		for sc.Scan() {
			line := sc.Text()
			if user, _, ok := strings.Cut(line, ":"); ok && ours[user] {
				continue
			}
			if strings.TrimSpace(line) != "" {
				b.WriteString(line + "\n")
			}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	for i, u := range units {
		h, err := Hash(secrets[i])
		if err != nil {
			return fmt.Errorf("simulator: hashing %s's secret: %w", u, err)
		}
		b.WriteString(u + ":" + h + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("simulator: Mosquitto password file: %w", err)
	}
	return nil
}
