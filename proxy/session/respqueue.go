package session

// respKind is what a queued request is, as far as its answers matter to
// the reader of a pooled server connection.
type respKind uint8

const (
	kSync      respKind = iota // a client's Query, Sync or FunctionCall: answered by ReadyForQuery
	kSyncOurs                  // the proxy's own Query: every answer up to its ReadyForQuery is dropped
	kParse                     // a client's Parse: ParseComplete is relayed
	kParseOurs                 // a Parse the proxy added: ParseComplete is dropped
	kClose                     // a client's Close: CloseComplete is relayed
	kCloseOurs                 // a Close the proxy added: CloseComplete is dropped
	kAbortOurs                 // the proxy's abortParse: its ErrorResponse is replaced by answer
)

// respEntry is one request a server connection owes answers to.
type respEntry struct {
	kind respKind
	// pipelined: syncParams' SETs of a login that went on without
	// awaiting them (next to kind, where the entry has room).
	pipelined bool
	// reset: syncParams' resetSession after a client's SET or LISTEN
	// (serverConn.reset):
	// the ParameterStatus it brings are the connection's, not the
	// session's, which the SETs after it give again.
	reset bool
	// locks: the lockQuery of a connection kept for a session's advisory
	// locks (pooled.locks), asked at the session's pooled.locksGen gen;
	// held: it found one.
	locks, held bool
	gen         uint32
	id          uint64 // statement id of a named Parse, 0 otherwise
	// For kSyncOurs: done receives the first error (ownError: SQLSTATE
	// and message; "" for none)
	// and then runs after the ReadyForQuery, under the owner's lock.
	done chan<- string
	then func()
	err  string
	// For a kSyncOurs of syncParams: the settings its SETs make (name,
	// NUL, value).
	params []string
	// For kAbortOurs: the ErrorResponse the client gets instead of the
	// backend's.
	answer []byte
}

// respQueue lists, in order, the requests a pooled server connection owes
// answers to that its reader must tell apart. Guarded by the owner's lock.
type respQueue struct {
	e    []respEntry
	head int
}

func (q *respQueue) push(e respEntry) {
	if q.head == len(q.e) {
		q.e, q.head = q.e[:0], 0
	}
	q.e = append(q.e, e)
}

func (q *respQueue) empty() bool { return q.head == len(q.e) }

// front returns the oldest entry, nil when empty.
func (q *respQueue) front() *respEntry {
	if q.empty() {
		return nil
	}
	return &q.e[q.head]
}

func (q *respQueue) pop() respEntry {
	e := q.e[q.head]
	q.e[q.head] = respEntry{}
	q.head++
	return e
}

// answer pops the entry a ParseComplete ('1') or CloseComplete ('3')
// answers and reports whether the proxy added that request.
func (q *respQueue) answer(typ byte) (ours bool) {
	for !q.empty() {
		e := q.pop()
		switch {
		case typ == '1' && (e.kind == kParse || e.kind == kParseOurs):
			return e.kind == kParseOurs
		case typ == '3' && (e.kind == kClose || e.kind == kCloseOurs):
			return e.kind == kCloseOurs
		case e.kind == kSync || e.kind == kSyncOurs:
			// Out of step: keep the sync for its ReadyForQuery.
			q.head--
			q.e[q.head] = e
			return false
		}
	}
	return false
}

// failed drops the entries up to the next sync after an ErrorResponse:
// PostgreSQL skips the rest of the batch. forget is called with the id of
// every Parse that was skipped, whose statement therefore does not exist.
func (q *respQueue) failed(forget func(id uint64)) {
	for !q.empty() {
		e := q.front()
		if e.kind == kSync || e.kind == kSyncOurs {
			return
		}
		if e.kind == kParse || e.kind == kParseOurs {
			forget(e.id)
		}
		q.pop()
	}
}

// synced pops the entries up to and including the sync a ReadyForQuery
// answers; ok is false when none was queued.
func (q *respQueue) synced() (e respEntry, ok bool) {
	for !q.empty() {
		e = q.pop()
		if e.kind == kSync || e.kind == kSyncOurs {
			return e, true
		}
	}
	return respEntry{}, false
}

// clientSyncs counts the client requests still awaiting ReadyForQuery.
func (q *respQueue) clientSyncs() int {
	n := 0
	for _, e := range q.e[q.head:] {
		if e.kind == kSync {
			n++
		}
	}
	return n
}

// abandon answers the proxy's own requests still queued with msg, their
// connection being lost; their then functions do not run.
func (q *respQueue) abandon(msg string) {
	for _, e := range q.e[q.head:] {
		if e.kind == kSyncOurs && e.done != nil {
			e.done <- msg
		}
	}
}
