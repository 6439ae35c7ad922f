package access

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const hashWorkerEnv = "KUAIFAN_ACCESS_HASH_WORKER"

// childHasher runs this test binary as the hashing child.
func childHasher(t *testing.T) *ProcessHasher {
	t.Helper()
	t.Setenv(hashWorkerEnv, "1")
	p := NewProcessHasher(os.Args[0], nil, nil)
	t.Cleanup(func() { p.Close() })
	return p
}

// niceOf is the nice value of a process (field 19 of /proc/PID/stat).
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	// The command's name is in parentheses and may hold spaces: count from
	// after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProcessHasher(t *testing.T) {
	p := childHasher(t)
	ctx := context.Background()
	h, err := p.Hash(ctx, goodPW, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := checkPassword(goodPW, h); !ok || err != nil {
		t.Fatalf("the child's hash %q does not check here: %v %v", h, ok, err)
	}
	for _, tc := range []struct {
		pw, enc string
		ok      bool
		err     error
	}{
		{goodPW, h, true, nil},
		{"wrong password", h, false, nil},
		{goodPW, "$argon2id$v=19$m=1,t=1,p=1$x$y", false, errBadHash},
	} {
		ok, err := p.Check(ctx, tc.pw, tc.enc)
		if ok != tc.ok || !errors.Is(err, tc.err) {
			t.Errorf("Check(%q, %q) = %v, %v; want %v, %v", tc.pw, tc.enc, ok, err, tc.ok, tc.err)
		}
	}

	p.mu.Lock()
	pid := p.child.cmd.Process.Pid
	p.mu.Unlock()
	if n := niceOf(t, pid); n != 19 {
		t.Errorf("the hashing child runs at nice %d, want 19", n)
	}

	// Several at once, each with its own answer.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			pw := goodPW + strconv.Itoa(i)
			h, err := p.Hash(ctx, pw, cheap)
			if err != nil {
				t.Error(err)
				return
			}
			if ok, err := p.Check(ctx, pw, h); !ok || err != nil {
				t.Errorf("%d: %v %v", i, ok, err)
			}
		})
	}
	wg.Wait()
}

// A child that dies is replaced at the next call; the call it was answering
// fails, none hangs.
func TestProcessHasherRestarts(t *testing.T) {
	p := childHasher(t)
	ctx := context.Background()
	if _, err := p.Hash(ctx, goodPW, cheap); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	old := p.child
	p.mu.Unlock()
	if err := old.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-old.gone
	h, err := p.Hash(ctx, goodPW, cheap)
	if err != nil {
		t.Fatalf("after the child died: %v", err)
	}
	if ok, _ := p.Check(ctx, goodPW, h); !ok {
		t.Fatal("the new child's hash does not check")
	}
	p.mu.Lock()
	if p.child == old || p.child == nil {
		t.Error("no new child")
	}
	p.mu.Unlock()
}

// Without a child to run, the hashing is done here, and works.
func TestProcessHasherFallsBack(t *testing.T) {
	p := NewProcessHasher("/nonexistent/hub", []string{"hash-worker"}, nil)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := p.Hash(ctx, goodPW, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Check(ctx, goodPW, h); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
}

// The service signs in through the child like through its own process.
func TestSignInThroughProcessHasher(t *testing.T) {
	p := childHasher(t)
	c := newClock()
	s, err := New(Config{Dir: t.TempDir(), Hashing: cheap, Hasher: p, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.AddUser(ctx, "wang", Dispatcher, goodPW, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SignIn(ctx, "wang", goodPW, "10.0.0.1:1"); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if _, _, err := s.SignIn(ctx, "wang", "not the password", "10.0.0.1:1"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
}
