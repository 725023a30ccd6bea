//go:build linux

package store

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"go.etcd.io/bbolt"
)

// rssFileKB is this process's file-backed resident memory (RssFile).
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// ActiveMessages gives back the mapped pages its scan touched, and the data
// reads back intact afterwards.
func TestActiveMessagesReleasesMappedPages(t *testing.T) {
	db := openTest(t, "")
	const n = 6000
	msgs := make([]*gateway.Message, n)
	for i := range msgs {
		msgs[i] = newMsg(i)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				mustCreate(t, db, msgs[i])
			}
		}()
	}
	wg.Wait()
	touch := func() int {
		count := 0
		if err := db.view(func(tx *bboltTx) error { return touchAll(tx, &count) }); err != nil {
			t.Fatal(err)
		}
		return count
	}
	touch()
	before := rssFileKB(t)
	got := 0
	if err := db.ActiveMessages(ctx, func(m *gatewayMessage) error { got++; return nil }); err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if got != n {
		t.Fatalf("ActiveMessages saw %d, want %d", got, n)
	}
	if after >= before {
		t.Fatalf("RssFile %d kB after ActiveMessages, %d kB before: mapped pages not released", after, before)
	}
	if c := touch(); c != n {
		t.Fatalf("read back %d messages after release, want %d", c, n)
	}
	m, err := db.GetMessage(ctx, msgs[1234].ID)
	if err != nil || string(m.Parts[0].PDU) != string(msgs[1234].Parts[0].PDU) {
		t.Fatalf("message after release: %v %v", m, err)
	}
}

type (
	bboltTx        = bbolt.Tx
	gatewayMessage = gateway.Message
)

// touchAll reads every stored message's bytes.
func touchAll(tx *bbolt.Tx, count *int) error {
	return tx.Bucket(bMessages).ForEach(func(k, v []byte) error {
		var sum byte
		for _, b := range v {
			sum += b
		}
		_ = sum
		*count++
		return nil
	})
}

// When the writes stop, the committer gives back the pages they (and
// whatever read the file meanwhile) mapped in, once more, ReleaseInterval
// after the last one: an idle daemon does not keep its last burst resident.
func TestCommitterReleasesAfterLastWrite(t *testing.T) {
	db, err := Open(t.TempDir()+"/simgate.db", Options{ReleaseInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	const n = 2000
	var wg sync.WaitGroup
	for w := range 16 { // group-committed, so the test stays short
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				mustCreate(t, db, newMsg(i))
			}
		}()
	}
	wg.Wait()
	if err := db.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	base := rssFileKB(t)
	count := 0
	if err := db.view(func(tx *bboltTx) error { return touchAll(tx, &count) }); err != nil {
		t.Fatal(err)
	}
	touched := rssFileKB(t)
	if touched-base < 512 {
		t.Skipf("reading %d messages mapped in only %d kB", n, touched-base)
	}
	mustCreate(t, db, newMsg(n)) // the last write
	deadline := time.Now().Add(30 * time.Second)
	for rssFileKB(t) > base+(touched-base)/2 {
		if time.Now().After(deadline) {
			t.Fatalf("RssFile still %d kB (%d kB after reading every message) 30 s after the last write", rssFileKB(t), touched)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
