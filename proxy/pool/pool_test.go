package pool

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// member is a connection over one end of a net.Pipe: the pool's
// bookkeeping needs no server.
type member struct{ Conn }

func (m *member) Base() *Conn { return &m.Conn }

// testPool returns a pool of size connections that opens pipes, and the
// count of connections opened.
func testPool(t *testing.T, set Settings) (*Pool[*member], *atomic.Int32) {
	var opened atomic.Int32
	p := New(Key{User: "u", Database: "d"}, Env[*member]{
		Now:      time.Now,
		Settings: func() Settings { return set },
		Open: func(_ context.Context, _ *Pool[*member], epoch uint64) (*member, error) {
			a, b := net.Pipe()
			t.Cleanup(func() { b.Close() })
			opened.Add(1)
			return &member{NewConn(a, nil, time.Now(), epoch)}, nil
		},
		KeepMin: func() bool { return true },
		Log:     slog.New(slog.DiscardHandler),
	})
	return p, &opened
}

func TestGetPutReuses(t *testing.T) {
	p, opened := testPool(t, Settings{Size: 2})
	ctx := context.Background()
	m, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(m, true)
	again, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != m || opened.Load() != 1 {
		t.Fatalf("a clean connection given back was not reused: same=%v opened=%d", again == m, opened.Load())
	}
	p.Put(again, false)
	if !m.Dead() || !m.Closing() {
		t.Fatal("a dirty connection given back was not closed")
	}
	if _, err := p.Get(ctx); err != nil || opened.Load() != 2 {
		t.Fatalf("after a dirty give-back Get = %v with %d opened, want a new connection", err, opened.Load())
	}
}

func TestWaiterGetsGivenBackConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := testPool(t, Settings{Size: 1, WaitTimeout: time.Minute})
		m, err := p.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan *member)
		go func() {
			w, err := p.Get(t.Context())
			if err != nil {
				t.Error(err)
			}
			got <- w
		}()
		synctest.Wait()
		if n := p.Waiting(); n != 1 {
			t.Fatalf("Waiting = %d, want 1", n)
		}
		p.Put(m, true)
		if w := <-got; w != m {
			t.Fatal("the waiter did not get the connection given back")
		}
	})
}

func TestWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := testPool(t, Settings{Size: 1, WaitTimeout: 3 * time.Second})
		if _, err := p.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := p.Get(t.Context())
		if !errors.Is(err, ErrQueueTimeout) {
			t.Fatalf("Get on a full pool = %v, want ErrQueueTimeout", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("gave up after %v, want the wait timeout (3s)", d)
		}
		if n := p.Waiting(); n != 0 {
			t.Fatalf("Waiting = %d after the timeout, want 0", n)
		}
	})
}

func TestIsolate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := testPool(t, Settings{Size: 2})
		idle, _ := p.Get(t.Context())
		busy, _ := p.Get(t.Context())
		p.Put(idle, true)
		p.Isolate()
		if !idle.Dead() {
			t.Fatal("Isolate left an idle connection open")
		}
		// The pool is full again (busy and a new one); a third client waits.
		if _, err := p.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
		waiterErr := make(chan error)
		go func() {
			_, err := p.Get(t.Context())
			waiterErr <- err
		}()
		synctest.Wait()
		p.Isolate()
		if err := <-waiterErr; !errors.Is(err, ErrIsolated) {
			t.Fatalf("a waiter during Isolate got %v, want ErrIsolated", err)
		}
		p.Put(busy, true)
		if !busy.Dead() {
			t.Fatal("a connection of the epoch before Isolate was pooled again")
		}
	})
}

func TestMaintainExpiresAndTopsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, opened := testPool(t, Settings{Size: 4, MinSize: 2, IdleTimeout: time.Minute})
		p.Maintain(t.Context(), time.Now())
		if n := len(p.Idle()); n != 2 || opened.Load() != 2 {
			t.Fatalf("after Maintain: %d idle, %d opened; want min_pool_size 2", n, opened.Load())
		}
		first := p.Idle()
		time.Sleep(2 * time.Minute) // synctest's fake clock
		p.Maintain(t.Context(), time.Now())
		for _, m := range first {
			if !m.Dead() {
				t.Fatal("a connection idle past the idle timeout was kept")
			}
		}
		if n := len(p.Idle()); n != 2 || opened.Load() != 4 {
			t.Fatalf("after expiry: %d idle, %d opened; want 2 fresh ones", n, opened.Load())
		}
	})
}

func TestCloseClosesIdleAndGivenBack(t *testing.T) {
	p, _ := testPool(t, Settings{Size: 2})
	a, _ := p.Get(context.Background())
	b, _ := p.Get(context.Background())
	p.Put(a, true)
	p.Close()
	if !a.Dead() {
		t.Fatal("Close left an idle connection open")
	}
	p.Put(b, true)
	if !b.Dead() {
		t.Fatal("a connection given back after Close was kept")
	}
}

func TestStatementsBounded(t *testing.T) {
	var r Statements
	refs := make([]*Statement, 0, 1000)
	for i := range 1000 {
		refs = append(refs, r.Ref([]byte{byte(i), byte(i >> 8), 0}))
	}
	shared := r.Ref([]byte{0, 0, 0})
	if shared != refs[0] {
		t.Fatal("the same definition got two server names")
	}
	for _, ref := range refs {
		r.Release(ref)
	}
	if n := r.Len(); n != 1 {
		t.Fatalf("Len = %d with one statement still named, want 1", n)
	}
	r.Release(shared)
	if n := r.Len(); n != 0 {
		t.Fatalf("Len = %d after every release, want 0", n)
	}
	if next := r.Ref([]byte{0, 0, 0}); next.ID == shared.ID || next.Name == shared.Name {
		t.Fatal("a released statement's id was reused")
	}
}

// TestTryGetTakesOnlyWhatNeedsNoWait: TryGet checks out the most recently
// used idle connection when usable accepts it, and otherwise takes
// nothing: not a connection usable refuses, not one to open, and it skips
// the dead.
func TestTryGetTakesOnlyWhatNeedsNoWait(t *testing.T) {
	p, opened := testPool(t, Settings{Size: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	any := func(*member) bool { return true }
	if _, ok := p.TryGet(any); ok || opened.Load() != 0 {
		t.Fatalf("TryGet on an empty pool took a connection (opened %d): opening waits", opened.Load())
	}
	a, _ := p.Get(ctx)
	b, _ := p.Get(ctx)
	p.Put(a, true)
	p.Put(b, true) // most recently used
	if m, ok := p.TryGet(func(m *member) bool { return m != b }); ok {
		t.Fatalf("TryGet took %p although usable refused the most recent one", m)
	}
	if m, ok := p.TryGet(any); !ok || m != b {
		t.Fatalf("TryGet = %p, %v; want the most recently used", m, ok)
	}
	a.MarkDead()
	if m, ok := p.TryGet(any); ok {
		t.Fatalf("TryGet took a dead connection %p", m)
	}
	// The dead one no longer counts: the pool of two has room.
	if _, err := p.Get(ctx); err != nil || opened.Load() != 3 {
		t.Fatalf("Get after TryGet skipped a dead connection = %v, opened %d; want a new one", err, opened.Load())
	}
}

// TestAwaitQueuesOnlyAFullPool: Await queues a continuation only when the
// pool is at its size with nothing idle; it gets the next connection
// given back, in turn with Get's waiters, or ErrQueueTimeout after the
// wait timeout.
func TestAwaitQueuesOnlyAFullPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := testPool(t, Settings{Size: 1, WaitTimeout: time.Minute})
		type answer struct {
			m   *member
			ok  bool
			err error
		}
		got := make(chan answer, 2)
		fn := func(m *member, ok bool, err error) { got <- answer{m, ok, err} }
		if p.Await(fn) {
			t.Fatal("Await queued on a pool with room to open a connection")
		}
		m, err := p.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !p.Await(fn) || p.Waiting() != 1 {
			t.Fatalf("Await on a full pool: not queued (%d waiting)", p.Waiting())
		}
		p.Put(m, true)
		if a := <-got; a.m != m || !a.ok || a.err != nil {
			t.Fatalf("the continuation got %+v, want the connection given back", a)
		}
		// It holds the connection now: the next one waits out the timeout.
		if !p.Await(fn) {
			t.Fatal("Await on a full pool: not queued")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if a := <-got; a.ok || !errors.Is(a.err, ErrQueueTimeout) || p.Waiting() != 0 {
			t.Fatalf("after the wait timeout: %+v, %d waiting; want ErrQueueTimeout, none", a, p.Waiting())
		}
		p.Put(m, true)
		if p.Await(fn) {
			t.Fatal("Await queued although a connection is idle")
		}
	})
}

// TestAwaitWithdrawable: a withdrawn wait gets the withdrawal's error at
// once and leaves the queue; withdrawing a wait that ended does nothing.
func TestAwaitWithdrawable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := testPool(t, Settings{Size: 1, WaitTimeout: time.Minute})
		got := make(chan error, 2)
		fn := func(_ *member, _ bool, err error) { got <- err }
		m, err := p.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		withdraw := p.AwaitWithdrawable(fn)
		if withdraw == nil || p.Waiting() != 1 {
			t.Fatalf("AwaitWithdrawable on a full pool: not queued (%d waiting)", p.Waiting())
		}
		withdraw(ErrWithdrawn)
		if err := <-got; !errors.Is(err, ErrWithdrawn) || p.Waiting() != 0 {
			t.Fatalf("withdrawn: %v, %d waiting; want ErrWithdrawn, none", err, p.Waiting())
		}
		withdraw(ErrWithdrawn)  // ended: nothing more
		time.Sleep(time.Minute) // nor its timeout
		synctest.Wait()
		if len(got) != 0 {
			t.Fatalf("a withdrawn wait was answered again: %v", <-got)
		}
		p.Put(m, true)
	})
}
