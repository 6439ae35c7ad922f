package access

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) {
	// The test binary is also the hashing child of the ProcessHasher tests.
	if os.Getenv(hashWorkerEnv) == "1" {
		if err := ServeHashing(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	leakcheck.Main(m)
}

// cheap is a hashing cost for tests: argon2id with 64 KiB, one pass.
var cheap = Hashing{Time: 1, MemoryKiB: 64, Threads: 1}

func TestPasswordHashRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery", "0123456789", "пароль-длинный", strings.Repeat("x", 256)} {
		enc := hashPassword(pw, cheap)
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("hash %q: not a PHC argon2id string with the cost it was made with", enc)
		}
		ok, err := checkPassword(pw, enc)
		if !ok || err != nil {
			t.Errorf("%q: its own hash does not match: %v %v", pw, ok, err)
		}
		for _, wrong := range []string{pw + "x", pw[:len(pw)-1], strings.ToUpper(pw), ""} {
			if wrong == pw {
				continue
			}
			if ok, err := checkPassword(wrong, enc); ok || err != nil {
				t.Errorf("%q matches the hash of %q (err %v)", wrong, pw, err)
			}
		}
		// A fresh salt every time: the same password hashes differently.
		if again := hashPassword(pw, cheap); again == enc {
			t.Errorf("two hashes of %q are the same string: no salt", pw)
		}
	}
	// The cost travels with the hash: one made with another cost still checks.
	other := Hashing{Time: 2, MemoryKiB: 128, Threads: 2}
	enc := hashPassword("correct horse battery", other)
	if ok, err := checkPassword("correct horse battery", enc); !ok || err != nil {
		t.Errorf("a hash of another cost (%s) does not check: %v %v", enc, ok, err)
	}
}

// A stored hash whose fields are not what hashPassword writes matches no
// password, and says so (errBadHash), rather than panicking or matching.
func TestPasswordBadHash(t *testing.T) {
	const pw = "correct horse battery"
	good := hashPassword(pw, cheap)
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	b64 := base64.RawStdEncoding
	cases := map[string]string{
		"empty":             "",
		"plain text":        pw,
		"too few fields":    strings.Join(parts[:5], "$"),
		"too many fields":   good + "$extra",
		"no leading $":      strings.TrimPrefix(good, "$"),
		"argon2i":           with(1, "argon2i"),
		"bcrypt":            "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"version 16":        with(2, "v=16"),
		"no version":        with(2, "x=19"),
		"no cost":           with(3, ""),
		"zero passes":       with(3, "m=64,t=0,p=1"),
		"zero threads":      with(3, "m=64,t=1,p=0"),
		"memory below 8×p":  with(3, "m=15,t=1,p=2"),
		"memory over 4 GiB": with(3, fmt.Sprintf("m=%d,t=1,p=1", 4<<20+1)),
		"threads over 255":  with(3, "m=4096,t=1,p=256"),
		"negative memory":   with(3, "m=-64,t=1,p=1"),
		"cost out of order": with(3, "t=1,m=64,p=1"),
		"salt not base64":   with(4, "!!!!!!!!!!!!"),
		"salt padded":       with(4, b64.EncodeToString([]byte("0123456789abcdef"))+"=="),
		"salt too short":    with(4, b64.EncodeToString([]byte("1234567"))),
		"key not base64":    with(5, "*"+parts[5][1:]),
		"key too short":     with(5, b64.EncodeToString(make([]byte, 15))),
	}
	for name, enc := range cases {
		ok, err := checkPassword(pw, enc)
		if ok || !errors.Is(err, errBadHash) {
			t.Errorf("%s (%q): match %v, err %v; want errBadHash", name, enc, ok, err)
		}
	}
	// The shortest salt and key the decoder takes, checked as any other.
	short := with(4, b64.EncodeToString([]byte("12345678")))
	if _, err := checkPassword(pw, short); err != nil {
		t.Errorf("an 8-byte salt: %v", err)
	}
}

// NewPassword: 16 characters from an alphabet without look-alikes, every
// character of it about as likely.
func TestNewPassword(t *testing.T) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	if len(alphabet) != 57 {
		t.Fatalf("test alphabet has %d characters", len(alphabet))
	}
	const n = 2000
	count := map[rune]int{}
	seen := map[string]bool{}
	for range n {
		pw := NewPassword()
		if len(pw) != 16 {
			t.Fatalf("%q: %d characters, want 16", pw, len(pw))
		}
		if seen[pw] {
			t.Fatalf("%q made twice", pw)
		}
		seen[pw] = true
		for _, c := range pw {
			if !strings.ContainsRune(alphabet, c) {
				t.Fatalf("%q has %q, not in the alphabet (no 0/O, 1/l/I)", pw, c)
			}
			count[c]++
		}
		if err := checkNewPassword("someone", pw); err != nil {
			t.Fatalf("a made password is not a valid one: %v", err)
		}
	}
	// 32,000 characters over 57: about 561 each, σ ≈ 23. A letter never
	// made, or one made far more than others (a modulo bias of the
	// rejection sampling), fails.
	for _, c := range alphabet {
		if k := count[c]; k < 400 || k > 730 {
			t.Errorf("%q made %d times of %d, want about %d", c, k, n*16, n*16/57)
		}
	}
}

func TestCheckNewPassword(t *testing.T) {
	for _, c := range []struct {
		name, pw string
		ok       bool
	}{
		{"wang", "123456789", false},             // 9
		{"wang", "1234567890", true},             // 10
		{"wang", "密码密码密码密码密码", true},             // 10 runes, 30 bytes
		{"wang", "密码密码密码密码密", false},             // 9 runes
		{"wang", strings.Repeat("a", 256), true}, // 256 bytes
		{"wang", strings.Repeat("a", 257), false},
		{"wangxiaoming", "WANGXIAOMING", false}, // the name, in any case
		{"wangxiaoming", "wangxiaoming1", true},
	} {
		err := checkNewPassword(c.name, c.pw)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("checkNewPassword(%q, %q) = %v, want ok %v (else ErrInvalid)", c.name, c.pw, err, c.ok)
		}
	}
}

// FuzzCheckPassword feeds the PHC decoder arbitrary strings. It must not
// panic; it answers a match only without an error; and a string that decodes
// and matches, written again canonically from what was decoded, still
// matches (the decoder took the cost, salt and key it was given).
func FuzzCheckPassword(f *testing.F) {
	f.Add("correct horse battery", hashPassword("correct horse battery", cheap))
	f.Add("correct horse battery", hashPassword("other password", cheap))
	f.Add("x", "$argon2id$v=19$m=8,t=1,p=1$MTIzNDU2Nzg$MTIzNDU2Nzg5MGFiY2RlZg")
	f.Add("", "$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("a", "$argon2id$v=19$m=64,t=1,p=1")
	f.Add("a", "$$$$$")
	f.Add("a", "$argon2id$v=19x$m=64,t=1,p=1junk$MTIzNDU2Nzg$MTIzNDU2Nzg5MGFiY2RlZg")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		// Keep each call cheap: the decoder allows up to 4 GiB and 2³² passes,
		// which a stored hash (written by the hub) never asks for.
		if h, ok := costOf(encoded); ok && (h.MemoryKiB > 256 || h.Time > 2 || h.Threads > 2) {
			t.Skip()
		}
		match, err := checkPassword(password, encoded)
		if err != nil && !errors.Is(err, errBadHash) {
			t.Fatalf("error %v is not errBadHash", err)
		}
		if err != nil && match {
			t.Fatalf("a match with an error %v", err)
		}
		if !match {
			return
		}
		canon, ok := canonical(encoded)
		if !ok {
			t.Fatalf("%q matched, but its fields do not read", encoded)
		}
		if again, err := checkPassword(password, canon); !again || err != nil {
			t.Fatalf("%q matched; written again as %q it does not (%v)", encoded, canon, err)
		}
		if other, _ := checkPassword(password+"\x00", encoded); other {
			t.Fatalf("%q matches both %q and that with a NUL after it", encoded, password)
		}
	})
}

// costOf reads the cost field as checkPassword does.
func costOf(encoded string) (Hashing, bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return Hashing{}, false
	}
	var h Hashing
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.MemoryKiB, &h.Time, &h.Threads); err != nil {
		return Hashing{}, false
	}
	return h, true
}

// canonical writes the PHC string again from the fields decoded from it.
func canonical(encoded string) (string, bool) {
	parts := strings.Split(encoded, "$")
	h, ok := costOf(encoded)
	if !ok {
		return "", false
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil {
		return "", false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return "", false
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", v, h.MemoryKiB, h.Time, h.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), true
}

// BenchmarkHashPassword is the cost of one password hash (a sign-in, a new
// password) with DefaultHashing: the target is at least 50 ms, so guessing
// stays slow, on one core of the hub's machine.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	var enc string
	for b.Loop() {
		enc = hashPassword("correct horse battery", DefaultHashing)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/hash")
	b.ReportMetric(0, "ns/op")
	if ok, err := checkPassword("correct horse battery", enc); !ok || err != nil {
		b.Fatalf("the benchmark's hash does not check: %v", err)
	}
}
