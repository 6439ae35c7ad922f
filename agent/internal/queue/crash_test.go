package queue

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
)

// childDirEnv makes TestChildAppends the child of TestSurvivesSIGKILL.
const childDirEnv = "KUAIFAN_QUEUE_CHILD_DIR"

// TestChildAppends is not a test on its own: run by TestSurvivesSIGKILL, it
// appends in a loop and prints "A <seq>" after each Append returns, and now
// and then acks its oldest items and prints "K <from> <to>" after Ack
// returns — until it is killed.
func TestChildAppends(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("run by TestSurvivesSIGKILL")
	}
	q, err := Open(Config{Dir: dir})
	if err != nil {
		fmt.Println("E", err)
		os.Exit(3)
	}
	out := bufio.NewWriterSize(os.Stdout, 64)
	var unacked []uint64
	deadline := time.Now().Add(30 * time.Second) // never outlive a lost parent
	for i := 0; time.Now().Before(deadline); i++ {
		kind := Telemetry
		if i%7 == 3 {
			kind = Event
		}
		ts := time.Now().UnixMilli()
		it, err := q.Append(kind, ts, payload(kind, ts))
		if err != nil {
			fmt.Println("E", err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "A %d\n", it.Seq)
		out.Flush() // the parent must see it before the next Append begins
		unacked = append(unacked, it.Seq)
		if len(unacked) >= 30 {
			from, to := unacked[0], unacked[9]
			if _, err := q.Ack(protocol.Ranges{{from, to}}); err != nil {
				fmt.Println("E", err)
				os.Exit(3)
			}
			unacked = unacked[10:]
			fmt.Fprintf(out, "K %d %d\n", from, to)
			out.Flush()
		}
	}
	q.Close()
	os.Exit(4) // the parent should have killed us
}

// TestSurvivesSIGKILL kills an appending child at random moments, three
// times over the same directory: every seq it reported appended (and did not
// ack) must be there, and the next seq above all of them.
func TestSurvivesSIGKILL(t *testing.T) {
	if os.Getenv(childDirEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	appended := map[uint64]bool{}
	var acked protocol.Ranges
	var maxSeq uint64
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildAppends$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The child's own bookkeeping, replayed: it acks its 10 oldest
		// once 30 are unacked, so if it dies after an Ack commits and
		// before it prints "K", exactly that batch is rightly gone.
		var unacked []uint64
		killAfter := 100 + rnd.IntN(300)
		sc := bufio.NewScanner(stdout)
		lines, killed := 0, false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "A":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				if seq <= maxSeq {
					t.Fatalf("round %d: seq %d after %d", round, seq, maxSeq)
				}
				appended[seq], maxSeq = true, seq
				unacked = append(unacked, seq)
			case len(f) == 3 && f[0] == "K":
				from, _ := strconv.ParseUint(f[1], 10, 64)
				to, _ := strconv.ParseUint(f[2], 10, 64)
				acked = acked.Union(protocol.Ranges{{from, to}})
				if len(unacked) < 10 || unacked[0] != from || unacked[9] != to {
					t.Fatalf("child acked %d..%d, expected the oldest of %v", from, to, unacked)
				}
				unacked = unacked[10:]
			case len(f) > 0 && f[0] == "E":
				t.Fatalf("child: %s", sc.Text())
			}
			if lines++; lines == killAfter && !killed {
				// Somewhere inside the next Append or Ack.
				time.Sleep(time.Duration(rnd.IntN(300)) * time.Microsecond)
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed || err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: child ended with %v after %d lines, not by our SIGKILL", round, err, lines)
		}

		q, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		present := map[uint64]bool{}
		var unreported []uint64
		for _, it := range stored(t, q) {
			present[it.Seq] = true
			if !appended[it.Seq] {
				unreported = append(unreported, it.Seq)
			}
		}
		// At most the one Append that committed just before the kill,
		// before the child could print it.
		if len(unreported) > 1 || len(unreported) == 1 && unreported[0] <= maxSeq {
			t.Errorf("round %d: seqs %v stored but never reported appended (last reported %d)", round, unreported, maxSeq)
		}
		for _, seq := range unreported {
			appended[seq], maxSeq = true, max(maxSeq, seq)
		}
		var pending protocol.Ranges // the Ack the child may have made unseen
		if len(unacked) >= 30 {
			pending = protocol.Ranges{{unacked[0], unacked[9]}}
		}
		var gone []uint64
		for seq := range appended {
			if !acked.Contains(seq) && !present[seq] {
				gone = append(gone, seq)
			}
		}
		if len(gone) > 0 {
			if len(gone) != 10 || pending == nil || !pending.Contains(slices.Min(gone)) || !pending.Contains(slices.Max(gone)) {
				t.Errorf("round %d: seqs %v were appended and not acked, and are gone", round, gone)
			}
			acked = acked.Union(pending)
			t.Logf("round %d: killed after an Ack committed, before it was reported", round)
		}
		if next := q.NextSeq(); next <= maxSeq {
			t.Errorf("round %d: next seq %d not above the last appended %d", round, next, maxSeq)
		}
		checkIndex(t, q)
		t.Logf("round %d: %d appended so far, %d queued after SIGKILL", round, len(appended), q.Len())
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
	if _, err := os.Stat(filepath.Join(dir, seqFile)); err != nil {
		t.Fatal(err)
	}
}
