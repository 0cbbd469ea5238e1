package session

import (
	"time"

	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// abortSQL is what the proxy sends a backend to abort the client's
// transaction after a helios_proxy statement failed inside it: it fails on
// any server, whatever the search_path or installed languages, and says
// why in the backend's log. abortQuery is its Query message.
const abortSQL = "SELECT 'HeliosProxy: a helios_proxy statement failed in this transaction block; aborting it'::pg_catalog.int4"

var abortQuery = wire.AppendMessage(nil, 'Q', []byte(abortSQL), []byte{0})

// abortTransaction puts the session's transaction block into the aborted
// state after an error the proxy answered itself, as PostgreSQL does after
// any error: the backend's part of the transaction is really aborted (the
// backend answers 25P02 until ROLLBACK and COMMIT rolls back), and the
// transaction status becomes 'E'. It is a no-op outside a transaction
// block. Only the client-to-server goroutine calls it.
func (ss *session) abortTransaction() error {
	if byte(ss.txStatus.Load()) != 'T' {
		return nil
	}
	defer ss.txStatus.Store('E')
	switch {
	case ss.pl != nil:
		return ss.abortPooled()
	case ss.server != nil:
		return ss.abortRelayed()
	}
	return nil // the status database: the state is the proxy's own
}

// abortRelayed aborts a pass-through session's transaction once the
// backend answered everything before: the answer to abortQuery is dropped
// by the server-to-client direction, which clears discard at its
// ReadyForQuery.
func (ss *session) abortRelayed() error {
	if err := ss.local.waitIdle(); err != nil {
		return err
	}
	ss.discard.Store(true)
	ss.count.client('Q')
	if _, err := ss.server.Write(abortQuery); err != nil {
		return err
	}
	for ss.discard.Load() {
		select {
		case <-ss.local.idle:
		case <-ss.stopped:
			return errStopped
		}
	}
	return nil
}

// abortPooled queues abortQuery on the attached server connection and
// waits for its answer. A connection that does not answer in time is
// closed, which aborts the transaction just as surely.
func (ss *session) abortPooled() error {
	pl := ss.pl
	pl.mu.Lock()
	sc := pl.sc
	if sc == nil {
		pl.mu.Unlock()
		return nil // lost with its connection: nothing of it can commit
	}
	done := make(chan string, 1)
	ss.queueOurs(abortSQL, respEntry{done: done})
	pl.mu.Unlock()
	if err := ss.flushServer(); err != nil {
		return err
	}
	t := time.NewTimer(ss.s.connectTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = sc.Net.Close()
	case <-pl.ctx.Done():
		return pl.ctx.Err()
	}
	return nil
}
