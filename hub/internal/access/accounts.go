package access

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// AccountsFile is the name of the accounts file in the data directory.
const AccountsFile = "accounts.json"

// Errors of the accounts, for the API to answer with a status.
var (
	ErrInvalid  = errors.New("invalid")   // 400
	ErrExists   = errors.New("exists")    // 409
	ErrNotFound = errors.New("not found") // 404
	ErrConflict = errors.New("conflict")  // 409: the change would leave no admin
)

var nameRE = regexp.MustCompile(`^[a-z0-9._-]{1,32}$`)

// NormalName is the name as it is kept: lower case, trimmed.
func NormalName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: a name is 1 to 32 of a-z, 0-9, '.', '_' and '-'", ErrInvalid)
	}
	return nil
}

// UserRecord is a person's account as the file keeps it. Times are Unix ms.
type UserRecord struct {
	Name            string `json:"name"`
	Role            Role   `json:"role"`
	Hash            string `json:"hash"` // argon2id, PHC string
	Disabled        bool   `json:"disabled,omitempty"`
	MustChange      bool   `json:"must_change,omitempty"`
	Created         int64  `json:"created"`
	PasswordChanged int64  `json:"password_changed"`
	// Gen moves on whenever the person's sessions must end: a new
	// password, a disabled account. A session holds the Gen it began in.
	Gen uint64 `json:"gen"`
}

// TokenRecord is a machine's API token as the file keeps it.
type TokenRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	Hash    string `json:"hash"` // SHA-256 (hex) of the whole token
	Created int64  `json:"created"`
	Revoked int64  `json:"revoked,omitempty"`
}

type document struct {
	Version int           `json:"version"`
	Users   []UserRecord  `json:"users"`
	Tokens  []TokenRecord `json:"tokens"`
}

// Accounts is the accounts file: people and API tokens. Every change is
// made under an exclusive lock on the file's lock file, on what the file
// holds then (another process — `hub user`, or the hub — may have changed
// it), and written whole to a new file renamed over the old one.
type Accounts struct {
	path string
	now  func() time.Time

	mu     sync.RWMutex
	users  map[string]*UserRecord
	tokens map[string]*TokenRecord // by id
	seen   fs.FileInfo             // the file as last read or written; nil: none
}

// OpenAccounts reads <dir>/accounts.json; a missing file is no accounts.
func OpenAccounts(dir string, now func() time.Time) (*Accounts, error) {
	if now == nil {
		now = time.Now
	}
	a := &Accounts{path: filepath.Join(dir, AccountsFile), now: now}
	if _, err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Path is the accounts file.
func (a *Accounts) Path() string { return a.path }

// Reload reads the file again if it changed since it was last read or
// written here, and reports whether it did.
func (a *Accounts) Reload() (bool, error) {
	fi, err := os.Stat(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi = nil
	} else if err != nil {
		return false, fmt.Errorf("accounts: %w", err)
	}
	a.mu.RLock()
	same := sameFile(a.seen, fi) && a.users != nil
	a.mu.RUnlock()
	if same {
		return false, nil
	}
	// Under the lock, as edit: a read racing an edit here must not
	// install the older file after the newer one.
	unlock, err := lockFile(a.path + ".lock")
	if err != nil {
		return false, fmt.Errorf("accounts: lock: %w", err)
	}
	defer unlock()
	doc, fi, err := a.read()
	if err != nil {
		return false, err
	}
	a.install(doc, fi)
	return true, nil
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func (a *Accounts) read() (document, fs.FileInfo, error) {
	var doc document
	f, err := os.Open(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil, nil
	}
	if err != nil {
		return doc, nil, fmt.Errorf("accounts: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return doc, nil, fmt.Errorf("accounts: %w", err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return doc, nil, fmt.Errorf("accounts: read %s: %w", a.path, err)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return doc, nil, fmt.Errorf("accounts: %s does not read: %w", a.path, err)
	}
	return doc, fi, nil
}

func (a *Accounts) install(doc document, fi fs.FileInfo) {
	users := make(map[string]*UserRecord, len(doc.Users))
	for i := range doc.Users {
		users[doc.Users[i].Name] = &doc.Users[i]
	}
	tokens := make(map[string]*TokenRecord, len(doc.Tokens))
	for i := range doc.Tokens {
		tokens[doc.Tokens[i].ID] = &doc.Tokens[i]
	}
	a.mu.Lock()
	a.users, a.tokens, a.seen = users, tokens, fi
	a.mu.Unlock()
}

// edit applies change to what the file holds now and writes the result.
func (a *Accounts) edit(change func(*document) error) error {
	unlock, err := lockFile(a.path + ".lock")
	if err != nil {
		return fmt.Errorf("accounts: lock: %w", err)
	}
	defer unlock()
	doc, _, err := a.read()
	if err != nil {
		return err
	}
	if err := change(&doc); err != nil {
		return err
	}
	doc.Version = 1
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(a.path, append(b, '\n')); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	fi, err := os.Stat(a.path)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	a.install(doc, fi)
	return nil
}

// writeFileSync replaces path with data durably: a new file, synced, renamed
// over the old one, and the directory synced.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func findUser(doc *document, name string) *UserRecord {
	for i := range doc.Users {
		if doc.Users[i].Name == name {
			return &doc.Users[i]
		}
	}
	return nil
}

func admins(doc *document) int {
	n := 0
	for _, u := range doc.Users {
		if u.Role == Admin && !u.Disabled {
			n++
		}
	}
	return n
}

// AddUser makes an account. The password is hashed with h before the file
// is locked.
func (a *Accounts) AddUser(name string, role Role, password string, mustChange bool, h Hashing) error {
	return a.addUser(name, role, password, mustChange, func(pw string) (string, error) { return hashPassword(pw, h), nil })
}

// addUser makes an account, its password hashed by hash once the name, the
// role and the password are found fit.
func (a *Accounts) addUser(name string, role Role, password string, mustChange bool, hash func(string) (string, error)) error {
	name = NormalName(name)
	if err := checkName(name); err != nil {
		return err
	}
	if role == Public {
		return fmt.Errorf("%w: a person has a role", ErrInvalid)
	}
	if err := checkNewPassword(name, password); err != nil {
		return err
	}
	hashed, err := hash(password)
	if err != nil {
		return err
	}
	return a.edit(func(doc *document) error {
		if findUser(doc, name) != nil {
			return fmt.Errorf("%w: there is an account %q", ErrExists, name)
		}
		now := a.now().UnixMilli()
		doc.Users = append(doc.Users, UserRecord{Name: name, Role: role, Hash: hashed, MustChange: mustChange,
			Created: now, PasswordChanged: now, Gen: 1})
		return nil
	})
}

// SetPassword gives an account a new password and ends its sessions.
func (a *Accounts) SetPassword(name, password string, mustChange bool, h Hashing) (UserRecord, error) {
	return a.setPassword(name, password, mustChange, func(pw string) (string, error) { return hashPassword(pw, h), nil })
}

func (a *Accounts) setPassword(name, password string, mustChange bool, hash func(string) (string, error)) (UserRecord, error) {
	name = NormalName(name)
	if err := checkNewPassword(name, password); err != nil {
		return UserRecord{}, err
	}
	hashed, err := hash(password)
	if err != nil {
		return UserRecord{}, err
	}
	var out UserRecord
	err = a.edit(func(doc *document) error {
		u := findUser(doc, name)
		if u == nil {
			return fmt.Errorf("%w: no account %q", ErrNotFound, name)
		}
		u.Hash, u.MustChange, u.PasswordChanged = hashed, mustChange, a.now().UnixMilli()
		u.Gen++
		out = *u
		return nil
	})
	return out, err
}

// Update changes an account's role and whether it is disabled (nil: as it
// is). Disabling ends its sessions. No change may leave the hub without an
// enabled admin.
func (a *Accounts) Update(name string, role *Role, disabled *bool) (UserRecord, error) {
	name = NormalName(name)
	if role != nil && *role == Public {
		return UserRecord{}, fmt.Errorf("%w: a person has a role", ErrInvalid)
	}
	var out UserRecord
	err := a.edit(func(doc *document) error {
		u := findUser(doc, name)
		if u == nil {
			return fmt.Errorf("%w: no account %q", ErrNotFound, name)
		}
		wasAdmin := u.Role == Admin && !u.Disabled
		if role != nil {
			u.Role = *role
		}
		if disabled != nil {
			if *disabled && !u.Disabled {
				u.Gen++
			}
			u.Disabled = *disabled
		}
		if wasAdmin && admins(doc) == 0 {
			return fmt.Errorf("%w: %s is the last enabled admin", ErrConflict, name)
		}
		out = *u
		return nil
	})
	return out, err
}

// User is the account of name.
func (a *Accounts) User(name string) (UserRecord, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[NormalName(name)]
	if !ok {
		return UserRecord{}, false
	}
	return *u, true
}

// Users lists the accounts by name.
func (a *Accounts) Users() []UserRecord {
	a.mu.RLock()
	out := make([]UserRecord, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, *u)
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y UserRecord) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// tokenPrefix starts every API token, so one is recognised in a log or a
// secret scanner.
const tokenPrefix = "kft_"

// AddToken makes an API token: its record, and the token itself, which is
// kept nowhere.
func (a *Accounts) AddToken(name string, role Role) (string, TokenRecord, error) {
	name = NormalName(name)
	if err := checkName(name); err != nil {
		return "", TokenRecord{}, err
	}
	if role == Public {
		return "", TokenRecord{}, fmt.Errorf("%w: a token has a role", ErrInvalid)
	}
	var idRaw [5]byte
	var secret [32]byte
	_, _ = rand.Read(idRaw[:])
	_, _ = rand.Read(secret[:])
	id := strings.ToLower(base32.StdEncoding.EncodeToString(idRaw[:]))
	token := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(token))
	rec := TokenRecord{ID: id, Name: name, Role: role, Hash: hex.EncodeToString(sum[:]), Created: a.now().UnixMilli()}
	err := a.edit(func(doc *document) error {
		for _, t := range doc.Tokens {
			if t.Revoked == 0 && t.Name == name {
				return fmt.Errorf("%w: there is a token %q (revoke it first)", ErrExists, name)
			}
			if t.ID == id {
				return fmt.Errorf("%w: token id %s taken, try again", ErrExists, id)
			}
		}
		doc.Tokens = append(doc.Tokens, rec)
		return nil
	})
	if err != nil {
		return "", TokenRecord{}, err
	}
	return token, rec, nil
}

// RevokeToken revokes the token id; revoking a revoked token changes
// nothing.
func (a *Accounts) RevokeToken(id string) (TokenRecord, error) {
	var out TokenRecord
	err := a.edit(func(doc *document) error {
		for i := range doc.Tokens {
			if t := &doc.Tokens[i]; t.ID == id {
				if t.Revoked == 0 {
					t.Revoked = a.now().UnixMilli()
				}
				out = *t
				return nil
			}
		}
		return fmt.Errorf("%w: no token %q", ErrNotFound, id)
	})
	return out, err
}

// Tokens lists the API tokens, oldest first.
func (a *Accounts) Tokens() []TokenRecord {
	a.mu.RLock()
	out := make([]TokenRecord, 0, len(a.tokens))
	for _, t := range a.tokens {
		out = append(out, *t)
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y TokenRecord) int {
		if c := x.Created - y.Created; c != 0 {
			return int(min(max(c, -1), 1))
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// token finds the live token a Bearer value is, or false.
func (a *Accounts) token(bearer string) (TokenRecord, bool) {
	rest, ok := strings.CutPrefix(bearer, tokenPrefix)
	if !ok {
		return TokenRecord{}, false
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok {
		return TokenRecord{}, false
	}
	a.mu.RLock()
	t, found := a.tokens[id]
	var rec TokenRecord
	if found {
		rec = *t
	}
	a.mu.RUnlock()
	if !found || rec.Revoked != 0 {
		return TokenRecord{}, false
	}
	sum := sha256.Sum256([]byte(bearer))
	want, err := hex.DecodeString(rec.Hash)
	if err != nil || !constantEqual(sum[:], want) {
		return TokenRecord{}, false
	}
	return rec, true
}
