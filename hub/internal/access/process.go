package access

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
)

// ProcessHasher hashes in a child process — the hub's own binary run as
// `hub hash-worker` (ServeHashing) — which lowers its CPU priority to the
// least (nice 19) before it takes any work: hashing gets the CPU that the
// hub's ingest and dispatch leave, and a rush of sign-ins waits instead of
// slowing a dispatch. A child that dies is started again at the next call;
// one that cannot start leaves the hashing to this process (logged).
type ProcessHasher struct {
	path string
	args []string
	log  *slog.Logger

	mu      sync.Mutex
	child   *hashChild // nil: none running
	closed  bool
	local   bool // the child could not start: hash here
	next    uint64
	waiting sync.WaitGroup // the children's readers
}

type hashChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	pending map[uint64]chan hashReply
	gone    chan struct{} // closed when its reader ends
}

type hashRequest struct {
	ID       uint64  `json:"id"`
	Op       string  `json:"op"` // "hash" or "check"
	Password string  `json:"password"`
	Encoded  string  `json:"encoded,omitempty"`
	Hashing  Hashing `json:"hashing"`
}

type hashReply struct {
	ID      uint64 `json:"id"`
	Hash    string `json:"hash,omitempty"`
	OK      bool   `json:"ok,omitempty"`
	BadHash bool   `json:"bad_hash,omitempty"`
	Err     string `json:"err,omitempty"`
}

// errWorkerGone is a call whose child process ended before it answered.
var errWorkerGone = errors.New("password hashing process ended")

// NewProcessHasher runs path with args as the hashing child, from the first
// call on.
func NewProcessHasher(path string, args []string, log *slog.Logger) *ProcessHasher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProcessHasher{path: path, args: args, log: log}
}

// Hash makes the PHC string of password in the child.
func (p *ProcessHasher) Hash(ctx context.Context, password string, h Hashing) (string, error) {
	r, err := p.call(ctx, hashRequest{Op: "hash", Password: password, Hashing: h})
	if errors.Is(err, errLocal) {
		return LocalHasher{}.Hash(ctx, password, h)
	}
	return r.Hash, err
}

// Check reports in the child whether password matches encoded.
func (p *ProcessHasher) Check(ctx context.Context, password, encoded string) (bool, error) {
	r, err := p.call(ctx, hashRequest{Op: "check", Password: password, Encoded: encoded})
	if errors.Is(err, errLocal) {
		return LocalHasher{}.Check(ctx, password, encoded)
	}
	if err == nil && r.BadHash {
		err = errBadHash
	}
	return r.OK, err
}

var errLocal = errors.New("hash in this process")

func (p *ProcessHasher) call(ctx context.Context, req hashRequest) (hashReply, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return hashReply{}, errors.New("password hashing stopped")
	}
	if p.local {
		p.mu.Unlock()
		return hashReply{}, errLocal
	}
	if p.child == nil {
		if err := p.start(); err != nil {
			p.local = true
			p.mu.Unlock()
			p.log.Error("password hashing process does not start; hashing in the hub's process", "err", err)
			return hashReply{}, errLocal
		}
	}
	c := p.child
	p.next++
	req.ID = p.next
	reply := make(chan hashReply, 1)
	c.pending[req.ID] = reply
	line, _ := json.Marshal(req)
	_, err := c.stdin.Write(append(line, '\n'))
	p.mu.Unlock()
	if err != nil {
		p.forget(c, req.ID)
		return hashReply{}, fmt.Errorf("password hashing: %w", errWorkerGone)
	}
	select {
	case r := <-reply:
		if r.Err != "" {
			return r, errors.New("password hashing: " + r.Err)
		}
		return r, nil
	case <-c.gone:
		return hashReply{}, fmt.Errorf("password hashing: %w", errWorkerGone)
	case <-ctx.Done():
		p.forget(c, req.ID)
		return hashReply{}, ctx.Err()
	}
}

func (p *ProcessHasher) forget(c *hashChild, id uint64) {
	p.mu.Lock()
	delete(c.pending, id)
	p.mu.Unlock()
}

// start runs a child; p.mu is held.
func (p *ProcessHasher) start() error {
	cmd := exec.Command(p.path, p.args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c := &hashChild{cmd: cmd, stdin: stdin, pending: map[uint64]chan hashReply{}, gone: make(chan struct{})}
	p.child = c
	p.waiting.Add(1)
	go p.read(c, stdout)
	return nil
}

// read hands the child's answers to their callers until it ends; then the
// next call starts another.
func (p *ProcessHasher) read(c *hashChild, out io.Reader) {
	defer p.waiting.Done()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r hashReply
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		p.mu.Lock()
		ch, ok := c.pending[r.ID]
		delete(c.pending, r.ID)
		p.mu.Unlock()
		if ok {
			ch <- r
		}
	}
	err := c.cmd.Wait()
	p.mu.Lock()
	if p.child == c {
		p.child = nil
	}
	closed := p.closed
	p.mu.Unlock()
	close(c.gone)
	if !closed {
		p.log.Warn("password hashing process ended; the next sign-in starts another", "err", err)
	}
}

// Close stops the child, once its calls are answered, and waits for it.
func (p *ProcessHasher) Close() error {
	p.mu.Lock()
	p.closed = true
	c := p.child
	p.mu.Unlock()
	if c != nil {
		_ = c.stdin.Close() // the child ends at the end of its input
	}
	p.waiting.Wait()
	return nil
}

// ServeHashing is the child's side: it lowers its own CPU priority, then
// answers each request line of in on out, several at a time (the parent
// bounds how many), until in ends.
func ServeHashing(in io.Reader, out io.Writer) error {
	if err := lowerPriority(); err != nil {
		fmt.Fprintln(os.Stderr, "hash-worker: cannot lower the CPU priority:", err)
	}
	var (
		wmu sync.Mutex
		wg  sync.WaitGroup
		enc = json.NewEncoder(out)
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		var req hashRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			continue
		}
		wg.Go(func() {
			r := hashReply{ID: req.ID}
			switch req.Op {
			case "hash":
				if req.Hashing.Time == 0 || req.Hashing.Threads == 0 || req.Hashing.MemoryKiB < 8 {
					r.Err = "bad hashing cost"
					break
				}
				r.Hash = hashPassword(req.Password, req.Hashing)
			case "check":
				ok, err := checkPassword(req.Password, req.Encoded)
				r.OK, r.BadHash = ok, errors.Is(err, errBadHash)
			default:
				r.Err = "no operation " + req.Op
			}
			wmu.Lock()
			defer wmu.Unlock()
			_ = enc.Encode(r)
		})
	}
	wg.Wait()
	return sc.Err()
}
