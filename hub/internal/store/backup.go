package store

// Backup and restore of a data directory.
//
// A backup is one tar file (gzipped or not) holding the directory's durable
// state, in this order:
//
//	manifest.json  format, version, time; every file's size; hub.db's records
//	               and commits, the units in hub.db and in units.log
//	hub.db         up to its last complete commit marker
//	units.log      up to its last whole line
//	admin.token    if the hub has one in the directory
//	admin.password the first admin's one-time password, while unchanged
//	accounts.json  people's accounts and the API tokens (their hashes)
//	audit.log      up to its last whole line
//	tls-cert.pem   -tls auto's certificate and its key
//	tls-key.pem
//	history/…      the positions and events: pebble's files, day by day
//	SHA256SUMS     the files' SHA-256, as sha256sum(1) writes them
//
// each of admin.token to tls-key.pem when the directory has it, and nothing
// transient: not hub.lock, hub.db.snapshot, *.corrupt-*, *.tmp,
// accounts.json.lock.
//
// It is consistent while the hub runs: hub.db is an append-only log in
// which every write transaction is followed by a commit marker, so a copy
// of the file up to a marker is the database as it was at that commit —
// what a start after a crash at that moment would have found. Every report
// confirmed to an agent before the backup began, and every enrolment that
// returned, has its marker on disk by then (Sync), so it is in the copy.
// units.log is copied after hub.db: it may hold an enrolment or revocation
// hub.db's copy lacks, and the hub's start brings the two together
// (reconcileUnits), as after any crash. accounts.json is replaced whole at
// every change (a rename), so the copy is one version of it; admin.password
// is read before it, so a first admin's password changed meanwhile leaves
// at worst a stale file beside the new hash, never a hash whose password is
// kept nowhere. audit.log is only appended to: it is copied up to its last
// whole line, like units.log. The history is copied last, from
// a snapshot (history.Snapshot) when the hub runs: history is written
// before hub.db, so everything confirmed before the backup began is in it.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kuaifan/hub/internal/history"
)

// TokenName is the admin token's file in the data directory (hub.TokenFile):
// a backup carries it so that a restored hub accepts the same token.
const TokenName = "admin.token"

// The files of people and of TLS in the data directory, each carried by a
// backup when the directory has it (the names are their owners': cmd/hub's
// tests check that they are the same).
const (
	AccountsName   = "accounts.json"  // access.AccountsFile: accounts and API tokens
	FirstAdminName = "admin.password" // access.FirstAdminFile: the first admin's one-time password
	AuditName      = "audit.log"      // audit.File
	TLSCertName    = "tls-cert.pem"   // hub.AutoCertFile: -tls auto's certificate
	TLSKeyName     = "tls-key.pem"    // hub.AutoKeyFile
)

// BackupVersion is the version of the backup format that Backup writes and
// Restore reads.
const BackupVersion = 1

const (
	backupFormat = "kuaifan-hub-backup"
	manifestName = "manifest.json"
	sumsName     = "SHA256SUMS"
)

// Errors of Restore (and Verify).
var (
	// ErrBadBackup is an archive that is not a hub backup, or one that is
	// damaged or truncated.
	ErrBadBackup = errors.New("not a whole hub backup")
	// ErrBackupVersion is a backup in a format this hub does not read.
	ErrBackupVersion = errors.New("unknown backup version")
	// ErrNotEmpty is a target directory that already holds files.
	ErrNotEmpty = errors.New("not empty")
)

// Manifest describes a backup: it is the archive's first file.
type Manifest struct {
	Format  string    `json:"format"`  // "kuaifan-hub-backup"
	Version int       `json:"version"` // BackupVersion
	Time    time.Time `json:"time"`    // when the backup began
	Dir     string    `json:"dir"`     // the data directory backed up
	// HubRunning says a hub held the directory: the backup was taken live.
	HubRunning bool           `json:"hub_running"`
	Files      []ManifestFile `json:"files"` // in the archive's order, after the manifest
	DB         ManifestDB     `json:"hub_db"`
	Journal    ManifestUnits  `json:"units_log"`
	AdminToken bool           `json:"admin_token"` // admin.token is in the backup
	// The files of people and of TLS the backup holds, each when the
	// directory had it (a backup made before accounts has none of them).
	Accounts      bool `json:"accounts"`       // accounts.json
	AdminPassword bool `json:"admin_password"` // admin.password
	AuditLog      bool `json:"audit_log"`      // audit.log
	TLSCert       bool `json:"tls_cert"`       // tls-cert.pem
	TLSKey        bool `json:"tls_key"`        // tls-key.pem
	// History says what the backup holds of <data>/history (positions and
	// events): "included" (the hub was stopped: its pebble files as they
	// are) or "included (a snapshot taken while the hub ran)".
	History string `json:"history,omitempty"`
}

// historyStaging is where Restore writes the history before it puts it in place.
const historyStaging = HistoryDir + ".restoring"

// isHistoryEntry says whether an archive name is a file of the history
// directory, and a safe one to create.
func isHistoryEntry(name string) bool {
	rest, ok := strings.CutPrefix(name, HistoryDir+"/")
	return ok && rest != "" && path.Clean(name) == name && !strings.Contains(name, "..") && !strings.HasPrefix(rest, "/")
}

// historyFiles lists the files of dir's history (pebble's LOCK files left
// out), as archive names and sizes.
func historyFiles(dir string) ([]ManifestFile, error) {
	root := filepath.Join(dir, HistoryDir)
	var out []ManifestFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || d.Name() == "LOCK" || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, ManifestFile{filepath.ToSlash(rel), fi.Size()})
		return nil
	})
	return out, err
}

// ManifestFile is one file of a backup.
type ManifestFile struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// ManifestDB is what the backup holds of hub.db.
type ManifestDB struct {
	Bytes      int64  `json:"bytes"`       // copied: up to the last complete commit marker
	Records    int    `json:"records"`     // commands, the markers not counted
	Commits    int    `json:"commits"`     // commit markers
	LastCommit uint64 `json:"last_commit"` // the last marker's counter
	Units      int    `json:"units"`       // unit records (revoked ones included)
	Revoked    int    `json:"revoked"`
	// LeftOut is what followed the last marker when the file was copied: a
	// transaction being written, never confirmed to anybody.
	LeftOut int64 `json:"left_out_bytes"`
}

// ManifestUnits is what the backup holds of units.log.
type ManifestUnits struct {
	Bytes   int64 `json:"bytes"`
	Units   int   `json:"units"` // units journalled (revoked ones included)
	Revoked int   `json:"revoked"`
	Damaged int   `json:"damaged_lines"`
}

// String is the manifest as `hub backup` and `hub restore` print it.
func (m Manifest) String() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-15s%s\n", label, fmt.Sprintf(format, args...))
	}
	state := "stopped"
	if m.HubRunning {
		state = "running"
	}
	line("taken", "%s from %s (hub %s)", m.Time.Format(time.RFC3339), m.Dir, state)
	db := fmt.Sprintf("%d bytes up to commit #%d: %d records, %d commits, %d %s (%d revoked)",
		m.DB.Bytes, m.DB.LastCommit, m.DB.Records, m.DB.Commits, m.DB.Units, plural(m.DB.Units, "unit", "units"), m.DB.Revoked)
	if m.DB.LeftOut > 0 {
		db += fmt.Sprintf("; %d bytes after it left out (a transaction not committed yet: never confirmed)", m.DB.LeftOut)
	}
	line(FileName, "%s", db)
	if m.has(JournalName) {
		units := fmt.Sprintf("%d bytes: %d %s (%d revoked)", m.Journal.Bytes, m.Journal.Units,
			plural(m.Journal.Units, "unit", "units"), m.Journal.Revoked)
		if m.Journal.Damaged > 0 {
			units += fmt.Sprintf(", %d damaged %s", m.Journal.Damaged, plural(m.Journal.Damaged, "line", "lines"))
		}
		line(JournalName, "%s", units)
	} else {
		line(JournalName, "none in the directory")
	}
	if m.History != "" {
		line("history", "%s", m.History)
	}
	if m.AdminToken {
		line(TokenName, "included: a hub restored from it accepts the same admin token")
	} else {
		line(TokenName, "none in the directory (the hub's token came from HUB_ADMIN_TOKEN)")
	}
	if m.Accounts {
		line(AccountsName, "%d bytes: people's accounts and the API tokens (their hashes)", m.size(AccountsName))
	} else {
		line(AccountsName, "none in the directory (no accounts yet: the hub makes the first admin)")
	}
	if m.AdminPassword {
		line(FirstAdminName, "included: the first admin's one-time password, not changed yet")
	}
	if m.AuditLog {
		line(AuditName, "%d bytes", m.size(AuditName))
	} else {
		line(AuditName, "none in the directory")
	}
	switch {
	case m.TLSCert && m.TLSKey:
		line("TLS", "%s and %s included: -tls auto's certificate, the one agents have as -ca", TLSCertName, TLSKeyName)
	case m.TLSCert:
		line("TLS", "%s included, without its key (%s is not in the directory)", TLSCertName, TLSKeyName)
	case m.TLSKey:
		line("TLS", "%s included, without its certificate (%s is not in the directory)", TLSKeyName, TLSCertName)
	}
	return b.String()
}

func (m Manifest) has(name string) bool {
	return slices.ContainsFunc(m.Files, func(f ManifestFile) bool { return f.Name == name })
}

// size is the bytes of the backup's file name.
func (m Manifest) size(name string) int64 {
	if i := slices.IndexFunc(m.Files, func(f ManifestFile) bool { return f.Name == name }); i >= 0 {
		return m.Files[i].Bytes
	}
	return 0
}

// extra is a file a backup carries when the directory has it, with the
// manifest's flag saying it does.
type extra struct {
	name string
	flag func(*Manifest) *bool
}

// extras are the files a backup carries when the directory has them, in
// the archive's order (after hub.db and units.log, before the history).
// Each but audit.log is small and read whole.
var extras = []extra{
	{TokenName, func(m *Manifest) *bool { return &m.AdminToken }},
	{FirstAdminName, func(m *Manifest) *bool { return &m.AdminPassword }},
	{AccountsName, func(m *Manifest) *bool { return &m.Accounts }},
	{AuditName, func(m *Manifest) *bool { return &m.AuditLog }},
	{TLSCertName, func(m *Manifest) *bool { return &m.TLSCert }},
	{TLSKeyName, func(m *Manifest) *bool { return &m.TLSKey }},
}

func isExtra(name string) bool {
	return slices.ContainsFunc(extras, func(e extra) bool { return e.name == name })
}

// Backup writes a backup of the data directory dir to w as a tar archive,
// while a hub runs on dir or not. The copy of hub.db is scanned as it is
// written, as the hub's start would scan it: Backup fails rather than
// write a copy that does not read whole. A damaged hub.db is not backed up
// (hub check says what is wrong with it). Where a hub is stopped, Backup
// holds the directory's lock so that none starts meanwhile.
func Backup(dir string, w io.Writer) (Manifest, error) {
	m := Manifest{Format: backupFormat, Version: BackupVersion, Time: time.Now().UTC().Truncate(time.Millisecond), Dir: dir}
	if abs, err := filepath.Abs(dir); err == nil {
		m.Dir = abs
	}
	fail := func(err error) (Manifest, error) { return m, fmt.Errorf("store: backup %s: %w", dir, err) }
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		return fail(err)
	}
	// (A directory that cannot be locked at all, read-only, is backed up
	// all the same: the copy is consistent either way.)
	if unlock, err := lockDir(dir); err == nil {
		defer unlock()
	} else if errors.Is(err, ErrLocked) {
		m.HubRunning = true
	}

	// hub.db: what is in the file now, up to its last marker. A compaction
	// may rename a new file into place meanwhile; the one opened here
	// stays as it is.
	db, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	fi, err := db.Stat()
	if err != nil {
		return fail(err)
	}
	units := newDBUnits()
	rep, err := scan(db, fi.Size(), units.note)
	if err != nil {
		return fail(err)
	}
	if rep.IsDamaged() {
		return fail(fmt.Errorf("%s has %d unreadable %s (%d bytes): not backed up; `hub check` lists the damage",
			FileName, rep.Regions, plural(rep.Regions, "region", "regions"), rep.SkippedBytes))
	}
	m.DB = ManifestDB{Bytes: rep.Keep, Records: rep.Records - rep.Commits, Commits: rep.Commits,
		LastCommit: rep.LastCommit, LeftOut: fi.Size() - rep.Keep}
	m.Files = append(m.Files, ManifestFile{FileName, rep.Keep})

	// units.log and the extras after hub.db: small, read whole, but for
	// audit.log.
	journal, err := os.ReadFile(filepath.Join(dir, JournalName))
	switch {
	case err == nil:
		// A line being appended is left out, like hub.db's last transaction.
		journal = journal[:bytes.LastIndexByte(journal, '\n')+1]
		m.Journal = journalCounts(journal)
		m.Journal.Bytes = int64(len(journal))
		m.Files = append(m.Files, ManifestFile{JournalName, int64(len(journal))})
	case !errors.Is(err, os.ErrNotExist):
		return fail(err)
	}
	small := map[string][]byte{}
	var auditLog *os.File
	for _, e := range extras {
		p := filepath.Join(dir, e.name)
		if e.name == AuditName {
			// Only ever appended to: copied from this handle up to its
			// last whole line as it is now.
			f, keep, err := openLines(p)
			switch {
			case err == nil:
				defer f.Close()
				auditLog = f
				*e.flag(&m) = true
				m.Files = append(m.Files, ManifestFile{e.name, keep})
			case !errors.Is(err, os.ErrNotExist):
				return fail(err)
			}
			continue
		}
		data, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return fail(err)
		case e.name == AccountsName && !json.Valid(data):
			return fail(fmt.Errorf("%s does not read as JSON: not backed up (a hub does not start with it either)", AccountsName))
		}
		small[e.name] = data
		*e.flag(&m) = true
		m.Files = append(m.Files, ManifestFile{e.name, int64(len(data))})
	}

	m.DB.Units, m.DB.Revoked = units.counts()

	// The history: a stopped hub's files as they are; a running hub's
	// through a snapshot beside them (hard links, so it costs little
	// space), consistent however the hub writes meanwhile.
	histDir := dir
	if m.HubRunning {
		stage, err := os.MkdirTemp(dir, HistoryDir+".backup-")
		if err != nil {
			return fail(fmt.Errorf("staging the history: %w", err))
		}
		defer os.RemoveAll(stage)
		if err := history.Snapshot(filepath.Join(dir, HistoryDir), filepath.Join(stage, HistoryDir)); err != nil {
			return fail(err)
		}
		histDir = stage
		m.History = "included (a snapshot taken while the hub ran)"
	} else {
		m.History = "included"
	}
	hf, err := historyFiles(histDir)
	if err != nil {
		return fail(err)
	}
	m.Files = append(m.Files, hf...)

	tw := tar.NewWriter(w)
	sums := map[string]string{}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := writeEntry(tw, m.Time, manifestName, append(manifest, '\n')); err != nil {
		return fail(err)
	}
	// hub.db: every byte that goes into the archive is scanned once more on
	// its way, so what is written is what reads.
	if err := tw.WriteHeader(entryHeader(m.Time, FileName, rep.Keep)); err != nil {
		return fail(err)
	}
	h := sha256.New()
	crep, cunits, err := scanStream(io.NewSectionReader(db, 0, rep.Keep), rep.Keep, io.MultiWriter(tw, h))
	if err != nil {
		return fail(err)
	}
	if err := sameDB(crep, cunits, m.DB); err != nil {
		return fail(fmt.Errorf("the copy of %s does not read as the file did: %w", FileName, err))
	}
	sums[FileName] = hex.EncodeToString(h.Sum(nil))
	if m.has(JournalName) {
		small[JournalName] = journal
	}
	for _, f := range m.Files {
		if f.Name == FileName || isHistoryEntry(f.Name) {
			continue
		}
		if f.Name == AuditName {
			if err := copyEntry(tw, m.Time, io.NewSectionReader(auditLog, 0, f.Bytes), f, sums); err != nil {
				return fail(err)
			}
			continue
		}
		data := small[f.Name]
		sum := sha256.Sum256(data)
		sums[f.Name] = hex.EncodeToString(sum[:])
		if err := writeEntry(tw, m.Time, f.Name, data); err != nil {
			return fail(err)
		}
	}
	for _, f := range m.Files {
		if !isHistoryEntry(f.Name) {
			continue
		}
		if err := copyFileEntry(tw, m.Time, filepath.Join(histDir, filepath.FromSlash(f.Name)), f, sums); err != nil {
			return fail(err)
		}
	}
	if err := writeEntry(tw, m.Time, sumsName, []byte(sumsFile(m, sums))); err != nil {
		return fail(err)
	}
	if err := tw.Close(); err != nil {
		return fail(err)
	}
	return m, nil
}

// BackupFile writes a backup of dir to the file at path, gzipped if its name
// ends in .gz or .tgz. The file is created mode 0600: it holds the admin
// token and the units' secret hashes. It is written beside path, fsynced,
// read back whole and verified (Verify), and only then renamed to path: a
// backup that fails leaves nothing at path (and a file there as it was).
func BackupFile(dir, path string) (Manifest, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return Manifest{}, fmt.Errorf("store: backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return Manifest{}, fmt.Errorf("store: backup: %w", err)
	}
	out := bufio.NewWriterSize(tmp, 1<<20)
	var w io.Writer = out
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".tgz") {
		zw = gzip.NewWriter(out)
		w = zw
	}
	m, err := Backup(dir, w)
	if err != nil {
		return m, err
	}
	if zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = out.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		return m, fmt.Errorf("store: backup: write %s: %w", path, err)
	}
	if _, err := Verify(tmp); err != nil {
		return m, fmt.Errorf("store: backup: %s read back: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return m, fmt.Errorf("store: backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return m, fmt.Errorf("store: backup: %w", err)
	}
	done = true
	if err := syncPath(filepath.Dir(path)); err != nil {
		return m, fmt.Errorf("store: backup: %w", err)
	}
	return m, nil
}

// Verify reads a backup (tar or gzipped tar) whole and checks it as Restore
// would, writing nothing: the manifest, every file's size and checksum,
// hub.db's commands and counts, the units in units.log.
func Verify(r io.Reader) (Manifest, error) {
	return readBackup(r, func(string) (io.Writer, error) { return io.Discard, nil })
}

// Restore brings a backup (tar or gzipped tar, as Backup or BackupFile
// wrote it) back into dir, which must be absent or empty (but for a lock
// file) unless force is set: then its hub.db, hub.db.snapshot, units.log,
// admin.token, admin.password, accounts.json, audit.log, tls-cert.pem,
// tls-key.pem and history are kept as <name>.replaced-<time> (each that is
// there, whether or not the backup has one: the directory becomes the
// backup's). It holds dir's lock, so it refuses (ErrLocked) while a hub runs
// on it.
//
// Every file is verified — size, checksum, hub.db read command by command,
// the counts of the manifest — into temporary files before any is put in
// place; a backup that fails leaves dir as it was. Then the store is
// checked as `hub check` does.
func Restore(r io.Reader, dir string, force bool) (m Manifest, err error) {
	fail := func(err error) (Manifest, error) { return m, fmt.Errorf("store: restore into %s: %w", dir, err) }
	created := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	// A running hub's directory is refused as such, before its files are
	// looked at: where there is a lock file, the lock is taken first. Where
	// there is none, it is created only in an empty directory.
	if _, err := os.Stat(filepath.Join(dir, LockName)); err != nil {
		if err := notEmpty(dir, force); err != nil {
			return fail(err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		if created {
			os.Remove(filepath.Join(dir, LockName))
			os.Remove(dir)
		}
		return fail(err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
		if err != nil && created {
			os.Remove(filepath.Join(dir, LockName))
			os.Remove(dir)
		}
	}()
	// Again, under the lock.
	if err := notEmpty(dir, force); err != nil {
		return fail(err)
	}

	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
		os.RemoveAll(filepath.Join(dir, historyStaging))
	}()
	m, err = readBackup(r, func(name string) (io.Writer, error) {
		p := filepath.Join(dir, filepath.FromSlash(name)+".restoring")
		if isHistoryEntry(name) { // staged whole, put in place whole
			p = filepath.Join(dir, historyStaging, filepath.FromSlash(strings.TrimPrefix(name, HistoryDir+"/")))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		return f, nil
	})
	if err != nil {
		return fail(err)
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}

	// Verified: in place, and what was there (with -force) aside.
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for _, name := range []string{FileName, FileName + ".snapshot", JournalName, TokenName, FirstAdminName, AccountsName,
		AuditName, TLSCertName, TLSKeyName, HistoryDir} {
		if name == HistoryDir && !slices.ContainsFunc(m.Files, func(f ManifestFile) bool { return isHistoryEntry(f.Name) }) {
			continue // a backup without history keeps the history there is
		}
		path := filepath.Join(dir, name)
		if _, err := os.Lstat(path); err == nil {
			if err := os.Rename(path, path+".replaced-"+stamp); err != nil {
				return fail(err)
			}
		}
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			return fail(err)
		}
		if !strings.HasSuffix(f.Name(), ".restoring") {
			continue // history, staged
		}
		name := strings.TrimSuffix(f.Name(), ".restoring")
		if err := os.Rename(f.Name(), name); err != nil {
			return fail(err)
		}
	}
	files = nil
	if _, err := os.Stat(filepath.Join(dir, historyStaging)); err == nil {
		if err := os.Rename(filepath.Join(dir, historyStaging), filepath.Join(dir, HistoryDir)); err != nil {
			return fail(err)
		}
	}
	if err := syncPath(dir); err != nil {
		return fail(err)
	}

	// Check takes the lock itself.
	unlock()
	locked = false
	c, err := Check(dir)
	if err != nil {
		return fail(fmt.Errorf("restored, but the check failed: %w", err))
	}
	switch {
	case !c.DB.Clean():
		return fail(fmt.Errorf("restored, but %s does not check clean:\n%s", FileName, c))
	case c.DB.Records-c.DB.Commits != m.DB.Records || c.DB.LastCommit != m.DB.LastCommit:
		return fail(fmt.Errorf("restored, but %s holds %d records up to commit #%d, the backup %d up to #%d",
			FileName, c.DB.Records-c.DB.Commits, c.DB.LastCommit, m.DB.Records, m.DB.LastCommit))
	case c.JournalUnits != m.Journal.Units:
		return fail(fmt.Errorf("restored, but %s holds %d units, the backup %d", JournalName, c.JournalUnits, m.Journal.Units))
	}
	return m, nil
}

// notEmpty fails with ErrNotEmpty if dir holds anything but a lock file
// (or a file system's lost+found), unless force.
func notEmpty(dir string, force bool) error {
	if force {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); n != LockName && n != "lost+found" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return fmt.Errorf("%w: it holds %s (restore into an empty directory, or force)", ErrNotEmpty, strings.Join(names, ", "))
}

// readBackup reads and verifies a backup, writing each file's content to
// the writer create returns for its name.
func readBackup(r io.Reader, create func(name string) (io.Writer, error)) (Manifest, error) {
	var m Manifest
	bad := func(format string, args ...any) (Manifest, error) {
		for i, a := range args {
			if err, ok := a.(error); ok {
				args[i] = describe(err)
			}
		}
		return m, fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
	}
	br := bufio.NewReaderSize(r, 1<<20)
	src := io.Reader(br)
	var zr *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if zr, err = gzip.NewReader(br); err != nil {
			return bad("gzip: %v", err)
		}
		src = zr
	}
	tr := tar.NewReader(src)
	next := func(want string) (*tar.Header, error) {
		hdr, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: truncated: it ends before %s", ErrBadBackup, want)
		case err != nil:
			return nil, fmt.Errorf("%w: before %s: %s", ErrBadBackup, want, describe(err))
		case hdr.Name != want:
			return nil, fmt.Errorf("%w: %q where %s belongs", ErrBadBackup, hdr.Name, want)
		case hdr.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadBackup, want)
		}
		return hdr, nil
	}

	hdr, err := next(manifestName)
	if err != nil {
		return m, err
	}
	if hdr.Size > 1<<20 {
		return bad("%s of %d bytes", manifestName, hdr.Size)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return bad("%s: %v", manifestName, err)
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Format != backupFormat {
		return bad("%s is not a hub backup's manifest", manifestName)
	}
	if m.Version != BackupVersion {
		return m, fmt.Errorf("%w: version %d; this hub reads version %d", ErrBackupVersion, m.Version, BackupVersion)
	}
	if len(m.Files) == 0 || m.Files[0].Name != FileName {
		return bad("the manifest lists no %s", FileName)
	}

	sums := map[string]string{}
	for i, f := range m.Files {
		if i > 0 && f.Name != JournalName && !isExtra(f.Name) && !isHistoryEntry(f.Name) || slices.IndexFunc(m.Files, func(g ManifestFile) bool { return g.Name == f.Name }) != i {
			return bad("the manifest lists %q", f.Name)
		}
		hdr, err := next(f.Name)
		if err != nil {
			return m, err
		}
		if hdr.Size != f.Bytes {
			return bad("%s has %d bytes, the manifest says %d", f.Name, hdr.Size, f.Bytes)
		}
		out, err := create(f.Name)
		if err != nil {
			return m, err
		}
		h := sha256.New()
		switch f.Name {
		case FileName:
			rep, units, err := scanStream(tr, f.Bytes, io.MultiWriter(out, h))
			if err != nil {
				return bad("%s: %v", f.Name, err)
			}
			if err := sameDB(rep, units, m.DB); err != nil {
				return bad("%s: %v", f.Name, err)
			}
		case JournalName:
			data, err := readEntry(tr, f.Bytes, io.MultiWriter(out, h))
			if err != nil {
				return bad("%s: %v", f.Name, err)
			}
			got := journalCounts(data)
			got.Bytes = f.Bytes
			if got != m.Journal {
				return bad("%s holds %d units (%d revoked, %d damaged lines), the manifest says %d (%d, %d)", f.Name,
					got.Units, got.Revoked, got.Damaged, m.Journal.Units, m.Journal.Revoked, m.Journal.Damaged)
			}
		case AccountsName:
			data, err := readEntry(tr, f.Bytes, io.MultiWriter(out, h))
			if err != nil {
				return bad("%s: %v", f.Name, err)
			}
			if !json.Valid(data) {
				return bad("%s does not read as JSON", f.Name)
			}
		default: // history, audit.log: large, copied as they come
			n, err := io.Copy(io.MultiWriter(out, h), tr)
			if err != nil {
				return bad("%s: %v", f.Name, err)
			}
			if n != f.Bytes {
				return bad("%s: %d bytes, the manifest says %d", f.Name, n, f.Bytes)
			}
		}
		sums[f.Name] = hex.EncodeToString(h.Sum(nil))
	}
	for _, e := range extras {
		if *e.flag(&m) != m.has(e.name) {
			return bad("the manifest's %s does not match its files", e.name)
		}
	}
	if _, err := next(sumsName); err != nil {
		return m, err
	}
	got, err := readEntry(tr, 1<<16, io.Discard)
	if err != nil {
		return bad("%s: %v", sumsName, err)
	}
	if want := sumsFile(m, sums); string(got) != want {
		return bad("checksums differ: the archive says\n%sits files have\n%s", got, want)
	}
	if hdr, err := tr.Next(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bad("after %s: %v", sumsName, err)
		}
		return bad("%q after %s", hdr.Name, sumsName)
	}
	if zr != nil {
		// gzip checks its CRC at the end of its stream.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return bad("gzip: %v", err)
		}
	}
	return m, nil
}

// describe says what an error reading an archive means.
func describe(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated (the archive ends in the middle)"
	case errors.Is(err, tar.ErrHeader):
		return "not a tar archive, or a damaged one"
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return "damaged gzip: " + err.Error()
	}
	return err.Error()
}

// readEntry reads the current tar entry, of at most limit bytes, copying it
// to w too.
func readEntry(r io.Reader, limit int64, w io.Writer) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	return data, nil
}

// copyFileEntry writes the file at p, of f.Bytes bytes, as entry f.Name.
func copyFileEntry(tw *tar.Writer, t time.Time, p string, f ManifestFile, sums map[string]string) error {
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	return copyEntry(tw, t, src, f, sums)
}

// copyEntry writes f.Bytes bytes of src as entry f.Name.
func copyEntry(tw *tar.Writer, t time.Time, src io.Reader, f ManifestFile, sums map[string]string) error {
	if err := tw.WriteHeader(entryHeader(t, f.Name, f.Bytes)); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(src, f.Bytes))
	if err != nil {
		return err
	}
	if n != f.Bytes {
		return fmt.Errorf("%s: %d bytes, %d listed", f.Name, n, f.Bytes)
	}
	sums[f.Name] = hex.EncodeToString(h.Sum(nil))
	return nil
}

// openLines opens a file that is only ever appended to, lines at a time,
// and answers its length up to its last whole line as it is now: a line
// being appended is left out.
func openLines(p string) (*os.File, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	buf := make([]byte, 64<<10)
	for end := fi.Size(); end > 0; {
		from := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-from], from)
		if err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return nil, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return f, from + int64(i) + 1, nil
		}
		end = from
	}
	return f, 0, nil
}

func entryHeader(t time.Time, name string, size int64) *tar.Header {
	// (tar rounds to the second: down, so no file comes out dated in the future.)
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: t.Truncate(time.Second)}
}

func writeEntry(tw *tar.Writer, t time.Time, name string, data []byte) error {
	if err := tw.WriteHeader(entryHeader(t, name, int64(len(data)))); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// sumsFile is SHA256SUMS for the manifest's files, as sha256sum(1) writes it.
func sumsFile(m Manifest, sums map[string]string) string {
	var b strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&b, "%s  %s\n", sums[f.Name], f.Name)
	}
	return b.String()
}

// sameDB compares a scan of a copy of hub.db with the manifest.
func sameDB(rep Report, units *dbUnits, m ManifestDB) error {
	n, revoked := units.counts()
	switch {
	case !rep.Clean():
		return fmt.Errorf("%d unreadable %s (%d bytes), %d bytes after its last commit",
			rep.Regions, plural(rep.Regions, "region", "regions"), rep.SkippedBytes, rep.TornBytes)
	case rep.Size != m.Bytes || rep.Records-rep.Commits != m.Records || rep.Commits != m.Commits || rep.LastCommit != m.LastCommit:
		return fmt.Errorf("%d bytes, %d records, %d commits up to #%d; the manifest says %d, %d, %d up to #%d",
			rep.Size, rep.Records-rep.Commits, rep.Commits, rep.LastCommit, m.Bytes, m.Records, m.Commits, m.LastCommit)
	case n != m.Units || revoked != m.Revoked:
		return fmt.Errorf("%d units (%d revoked); the manifest says %d (%d)", n, revoked, m.Units, m.Revoked)
	}
	return nil
}

// journalCounts counts the units in the units journal's bytes, as
// readJournal reads them.
func journalCounts(data []byte) ManifestUnits {
	byID := map[string]Unit{}
	var c ManifestUnits
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if u, ok := decodeJournalLine(line); ok {
			byID[u.ID] = u
		} else {
			c.Damaged++
		}
	}
	c.Units = len(byID)
	for _, u := range byID {
		if u.Revoked != 0 {
			c.Revoked++
		}
	}
	return c
}

// dbUnits follows the unit records through a scan of hub.db: the latest
// value of each, as of the last commit marker.
type dbUnits struct {
	latest  map[string][]byte
	pending []command // since the last marker
	commits bool
}

func newDBUnits() *dbUnits { return &dbUnits{latest: map[string][]byte{}} }

var unitKeyPrefix = []byte("\r\n" + unitKey(""))

// note takes one command of the scan.
func (u *dbUnits) note(raw []byte, marker bool) error {
	if marker {
		u.commits = true
		u.apply()
		return nil
	}
	// A unit record's key follows the verb's line: look no further.
	if !bytes.Contains(raw[:min(len(raw), 32)], unitKeyPrefix) {
		return nil
	}
	_, c, st := parseCommand(raw, true)
	if st != parsed || !bytes.HasPrefix(c.parts[1], []byte(unitKey(""))) {
		return nil
	}
	for i := range c.n {
		c.parts[i] = slices.Clone(c.parts[i])
	}
	u.pending = append(u.pending, c)
	return nil
}

func (u *dbUnits) apply() {
	for _, c := range u.pending {
		switch key := string(c.parts[1]); string(c.parts[0]) {
		case "set":
			u.latest[key] = c.parts[2]
		case "del":
			delete(u.latest, key)
		}
	}
	u.pending = u.pending[:0]
}

// counts returns the units and the revoked ones among them. In a file
// without markers (written before they were), every command counts.
func (u *dbUnits) counts() (units, revoked int) {
	if !u.commits {
		u.apply()
	}
	for _, v := range u.latest {
		var rec Unit
		if json.Unmarshal(v, &rec) == nil && rec.Revoked != 0 {
			revoked++
		}
	}
	return len(u.latest), revoked
}

// scanStream scans size bytes read from r as hub.db, writing them to w as
// they are read: the scan is of exactly the bytes written.
func scanStream(r io.Reader, size int64, w io.Writer) (Report, *dbUnits, error) {
	s := &streamAt{r: r, w: w}
	units := newDBUnits()
	rep, err := scan(s, size, units.note)
	if s.werr != nil {
		return rep, nil, s.werr
	}
	if err != nil {
		return rep, nil, err
	}
	// The scan has read to size; anything more is not hub.db's.
	if n, err := io.Copy(io.Discard, r); err != nil || n > 0 || s.read != size {
		if err == nil {
			err = fmt.Errorf("%d bytes where %d were expected", s.read+n, size)
		}
		return rep, nil, err
	}
	return rep, units, nil
}

// streamAt lets scan read a stream through io.ReaderAt. scan reads forward
// (reading a command again from its start when it runs past a window, and
// looking back only into damage), so streamAt keeps the bytes from the
// latest offset asked for on. Every byte read from r is written to w once.
type streamAt struct {
	r    io.Reader
	w    io.Writer
	buf  []byte // the stream's bytes [base, base+len(buf))
	base int64
	read int64 // bytes read from r
	eof  bool
	werr error
}

var errBehind = errors.New("a read behind the stream (the scan met damage)")

func (s *streamAt) ReadAt(p []byte, off int64) (int, error) {
	if off < s.base {
		return 0, errBehind
	}
	// Forget what lies before off.
	if d := min(off-s.base, int64(len(s.buf))); d > 0 {
		s.buf = s.buf[:copy(s.buf, s.buf[d:])]
		s.base += d
	}
	for end := off + int64(len(p)); s.base+int64(len(s.buf)) < end && !s.eof; {
		want := int(end - (s.base + int64(len(s.buf))))
		if cap(s.buf)-len(s.buf) < want {
			s.buf = slices.Grow(s.buf, want)
		}
		n, err := s.r.Read(s.buf[len(s.buf) : len(s.buf)+want])
		if n > 0 {
			if _, werr := s.w.Write(s.buf[len(s.buf) : len(s.buf)+n]); werr != nil {
				s.werr = werr
				return 0, werr
			}
			s.read += int64(n)
			s.buf = s.buf[:len(s.buf)+n]
		}
		switch {
		case errors.Is(err, io.EOF):
			s.eof = true
		case err != nil:
			return 0, err
		}
		// Bytes before off (a skip forward) are written, then forgotten.
		if d := min(off-s.base, int64(len(s.buf))); d > 0 {
			s.buf = s.buf[:copy(s.buf, s.buf[d:])]
			s.base += d
		}
	}
	if off > s.base {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
