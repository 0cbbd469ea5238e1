package session

import "github.com/heliosdb/heliosproxy/statusdb"

// searchPath follows a backend session's search_path, which PostgreSQL
// does not report in ParameterStatus, so that once helios_proxy leads it
// (SET search_path TO helios_proxy, public) unqualified names of
// helios_proxy's tables are answered by the proxy, as PostgreSQL would
// resolve them, and every other name still goes to the backend. It starts
// from the startup parameter search_path (or options' -c search_path=),
// and follows SET [SESSION|LOCAL] search_path, RESET, SET ... TO DEFAULT,
// RESET ALL, DISCARD ALL and SELECT set_config('search_path', ..., ...)
// with PostgreSQL's transaction rules: a change made in a transaction
// block lasts only if it commits, SET LOCAL until the block ends, and a
// change is taken only once the backend answered its request without an
// error. The zero value is the default path, which resolves nothing.
type searchPath struct {
	// transient: transaction pooling, where a server connection serves the
	// client for one transaction only, so that what a SET outside a
	// transaction block (or committed in one) gives it does not follow
	// the client; only the startup value does (carried to every
	// connection), and changes last until their transaction ends.
	transient         bool
	session           string // the committed value ("" is the default)
	tx, local         string // set in the open transaction block
	txSet, localSet   bool
	resolves, watched bool // resolves: the current value leads to helios_proxy; watched: it is not the default
}

// current is the value statements see now.
func (p *searchPath) current() string {
	switch {
	case p.localSet:
		return p.local
	case p.txSet:
		return p.tx
	}
	return p.session
}

func (p *searchPath) update() {
	p.watched = p.session != "" || p.txSet || p.localSet
	p.resolves = statusdb.ResolvesOnPath(p.current(), false)
}

// endTransaction ends the open transaction block's changes: kept on
// commit, undone otherwise; SET LOCAL's end either way.
func (p *searchPath) endTransaction(commit bool) {
	if commit && p.txSet && !p.transient {
		p.session = p.tx
	}
	p.txSet, p.localSet, p.tx, p.local = false, false, "", ""
}

// startupPath returns the search_path a session's startup parameters set,
// "" for none.
func startupPath(params map[string]string) string {
	path, _ := startupSetting(params, "search_path")
	return path
}

// apply follows the changes of a request the backend answered: inTx says
// whether a transaction block was open before it (tx status 'T' or 'E',
// aborted when 'E'), failed whether the request met an error.
func (p *searchPath) apply(changes []statusdb.PathChange, before byte, failed bool) {
	defer p.update()
	if failed {
		// What the request began or changed in a block is rolled back,
		// or will be once the aborted block ends: nothing runs before.
		p.endTransaction(false)
		return
	}
	inTx, aborted := before == 'T' || before == 'E', before == 'E'
	for _, c := range changes {
		switch c.Kind {
		case statusdb.TxBegin:
			inTx = true
		case statusdb.TxCommit:
			p.endTransaction(!aborted)
			inTx, aborted = false, false
		case statusdb.TxRollback:
			p.endTransaction(false)
			inTx, aborted = false, false
		case statusdb.PathSet, statusdb.PathResetAll:
			switch {
			case c.Local && inTx:
				p.local, p.localSet = c.Path, true
			case c.Local:
				// SET LOCAL outside a block only warns.
			case inTx:
				p.tx, p.txSet = c.Path, true
				p.local, p.localSet = "", false
			case !p.transient:
				p.session = c.Path
			}
		}
	}
}

// relevant reports whether any of the changes concerns the path or the
// transaction.
func relevant(changes []statusdb.PathChange) bool {
	for _, c := range changes {
		if c.Kind != 0 {
			return true
		}
	}
	return false
}

// pathChanges returns what a relayed Query's or Parse's text does to the
// search_path, for a pass-through session that must follow it: one that
// names search_path and helios_proxy, or any once the path is not the
// default; nil when nothing it does matters.
func (l *localState) pathChanges(sql []byte) []statusdb.PathChange {
	if !l.ss.hasBackend() || !l.path.watched && !statusdb.MentionsPath(sql) {
		return nil
	}
	changes := statusdb.PathChanges(string(sql))
	if !relevant(changes) {
		return nil
	}
	return changes
}

// relayWatched relays a request whose statements change the search_path
// or end a transaction with such a change, waits for the backend's answer
// and follows what it did.
func (l *localState) relayWatched(msg []byte, changes []statusdb.PathChange) error {
	if err := l.waitIdle(); err != nil {
		return err
	}
	before := byte(l.ss.txStatus.Load())
	if err := l.ss.relayMessage(msg); err != nil {
		return err
	}
	return l.followPath(changes, before)
}

// followPath waits until the backend answered every request relayed so far,
// the last of which held changes, and follows them.
func (l *localState) followPath(changes []statusdb.PathChange, before byte) error {
	if err := l.waitIdle(); err != nil {
		return err
	}
	var failed bool
	if pl := l.ss.pl; pl != nil {
		pl.mu.Lock()
		failed = pl.lastFailed
		pl.mu.Unlock()
	} else {
		failed = l.ss.count.lastFailed()
	}
	l.path.apply(changes, before, failed)
	return nil
}
