package session

import (
	"encoding/binary"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// Rows of a status query that reach the client in pieces, as PostgreSQL
// sends a portal's: an Execute with a row limit (JDBC's fetch size), and
// the cursors of DECLARE, FETCH and MOVE (psycopg2's named cursors). The
// rows are computed once, over one snapshot, when the portal first runs
// or the cursor is declared (PostgreSQL reads its rows under the
// snapshot of that moment too), and kept encoded as DataRow messages.
// A portal or cursor made in a transaction ends with it (idleReady), a
// cursor WITH HOLD when closed.

// rowSet is a statement's rows, moved through as PostgreSQL's
// PortalRunSelect moves through a portal's.
type rowSet struct {
	cols    []statusdb.Column
	formats []int16
	rows    [][]byte // DataRow messages
	// cur is the position: 0 before the first row, k on row k,
	// len(rows)+1 after the last.
	cur    int
	scroll bool // backwards allowed (SCROLL)
	// err is the error computing the rows met after rows (DataRow
	// messages before it): PostgreSQL computes a cursor's or portal's
	// rows as they are fetched, so DECLARE succeeds, and FETCH, MOVE or
	// Execute return the rows before the failing one, then fail.
	err error
}

func newRowSet(cols []statusdb.Column, formats []int16, data []byte) *rowSet {
	r := &rowSet{cols: cols, formats: formats}
	for len(data) > 0 {
		n := 1 + int(binary.BigEndian.Uint32(data[1:]))
		r.rows = append(r.rows, data[:n:n])
		data = data[n:]
	}
	return r
}

func (r *rowSet) atEnd() bool { return r.cur == len(r.rows)+1 }

// pos is PostgreSQL's portalPos: the rows fetched so far from the start.
func (r *rowSet) pos() int64 { return int64(min(r.cur, len(r.rows))) }

// run moves up to count rows (statusdb.FetchAll: all) forwards or
// backwards, appending them to dst when send, and returns how many it
// moved over, as PortalRunSelect.
func (r *rowSet) run(dst []byte, forward bool, count int64, send bool) ([]byte, int64, error) {
	n := len(r.rows)
	if forward {
		if r.atEnd() || count <= 0 {
			return dst, 0, nil
		}
		k := int64(n - r.cur)
		if count < k {
			k = count
		}
		if send {
			for _, row := range r.rows[r.cur : r.cur+int(k)] {
				dst = append(dst, row...)
			}
		}
		r.cur += int(k)
		if k < count {
			if r.err != nil {
				// PostgreSQL sends the rows before the one that failed.
				return dst, k, r.err
			}
			r.cur = n + 1
		}
		return dst, k, nil
	}
	if r.err != nil {
		return dst, 0, r.err
	}
	if !r.scroll {
		return dst, 0, errNoScroll
	}
	if r.cur == 0 || count <= 0 {
		return dst, 0, nil
	}
	k := int64(r.cur - 1)
	if count < k {
		k = count
	}
	if send {
		for i := r.cur - 2; i >= r.cur-1-int(k); i-- {
			dst = append(dst, r.rows[i]...)
		}
	}
	r.cur -= int(k)
	if k < count {
		r.cur = 0
	}
	return dst, k, nil
}

var errNoScroll = &Error{Severity: "ERROR", Code: "55000", Message: "cursor can only scan forward", Hint: "Declare it with SCROLL option to enable backward scan."}

// rewind goes back before the first row, as DoPortalRewind.
func (r *rowSet) rewind() error {
	if r.cur == 0 {
		return nil
	}
	if !r.scroll {
		return errNoScroll
	}
	r.cur = 0
	return nil
}

// fetch carries out FETCH or MOVE as PostgreSQL's DoPortalRunFetch does,
// appending the rows to dst for FETCH; n is the count of its command tag.
func (r *rowSet) fetch(dst []byte, f *statusdb.Fetch) (out []byte, n int64, err error) {
	send := !f.Move
	count := f.Count
	forward := true
	switch f.Direction {
	case statusdb.FetchForward:
		if count < 0 {
			forward, count = false, -count
		}
	case statusdb.FetchBackward:
		forward = false
		if count < 0 {
			forward, count = true, -count
		}
	case statusdb.FetchAbsolute:
		switch {
		case count > 0:
			pos := r.pos()
			if r.atEnd() {
				pos++
			}
			if count-1 <= r.pos()/2 {
				if err := r.rewind(); err != nil {
					return dst, 0, err
				}
				if count > 1 {
					if _, _, err := r.run(nil, true, count-1, false); err != nil {
						return dst, 0, err
					}
				}
			} else if count <= pos {
				if _, _, err := r.run(nil, false, pos-count+1, false); err != nil {
					return dst, 0, err
				}
			} else if count > pos+1 {
				if _, _, err := r.run(nil, true, count-pos-1, false); err != nil {
					return dst, 0, err
				}
			}
			return r.run(dst, true, 1, send)
		case count < 0:
			if _, _, err := r.run(nil, true, statusdb.FetchAll, false); err != nil {
				return dst, 0, err
			}
			if count < -1 {
				if _, _, err := r.run(nil, false, -count-1, false); err != nil {
					return dst, 0, err
				}
			}
			return r.run(dst, false, 1, send)
		default:
			if err := r.rewind(); err != nil {
				return dst, 0, err
			}
			return r.run(dst, true, 0, send)
		}
	case statusdb.FetchRelative:
		switch {
		case count > 0:
			if count > 1 {
				if _, _, err := r.run(nil, true, count-1, false); err != nil {
					return dst, 0, err
				}
			}
			return r.run(dst, true, 1, send)
		case count < 0:
			if count < -1 {
				if _, _, err := r.run(nil, false, -count-1, false); err != nil {
					return dst, 0, err
				}
			}
			return r.run(dst, false, 1, send)
		}
	}
	if count == 0 {
		// Re-fetch the current row, if the cursor is on one.
		onRow := r.cur != 0 && !r.atEnd()
		if !send {
			if onRow {
				return dst, 1, nil
			}
			return dst, 0, nil
		}
		if onRow {
			if _, _, err := r.run(nil, false, 1, false); err != nil {
				return dst, 0, err
			}
			count, forward = 1, true
		}
	}
	if !forward && count == statusdb.FetchAll && !send {
		// MOVE BACKWARD ALL rewinds.
		n := r.pos()
		if n > 0 && !r.atEnd() {
			n--
		}
		return dst, n, r.rewind()
	}
	return r.run(dst, forward, count, send)
}

// localCursor is a cursor over a status query (DECLARE).
type localCursor struct {
	rows *rowSet
	hold bool
	// ready is idleReady when it was declared: one made outside WITH HOLD
	// ends with the transaction, at the next idle ReadyForQuery.
	ready uint64
	inTx  bool // declared in a transaction block, which may yet roll back
}

// expire forgets the portals, and the cursors without WITH HOLD, of
// transactions that have ended since they were made.
func (l *localState) expire() {
	now := l.ss.idleReady.Load()
	if now == l.seen {
		return
	}
	l.seen = now
	for name, p := range l.portals {
		if p.ready != now {
			delete(l.portals, name)
		}
	}
	for name, c := range l.cursors {
		if !c.hold && c.ready != now {
			delete(l.cursors, name)
		}
	}
}

// declareCursor runs DECLARE: the query's rows are computed now and kept.
func (l *localState) declareCursor(st *statusdb.Stmt, in statusdb.Input, params [][]byte, paramFormats []int16) error {
	d := st.Declare()
	l.expire()
	if _, ok := l.cursors[d.Name]; ok {
		return &Error{Severity: "ERROR", Code: "42P03", Message: "cursor \"" + d.Name + "\" already exists"}
	}
	if !d.Hold && !l.inBlock() {
		return &Error{Severity: "ERROR", Code: "25P01", Message: "DECLARE CURSOR can only be used in transaction blocks"}
	}
	if err := d.Query.Check(in); err != nil {
		return err
	}
	cols := d.Query.Columns()
	format := int16(0)
	if d.Binary {
		format = 1
	}
	formats := columnFormats(len(cols), []int16{format})
	data, _, err := d.Query.AppendDataRows(nil, in, params, paramFormats, formats)
	rs := newRowSet(cols, formats, data)
	rs.scroll, rs.err = d.Scroll, err
	if l.cursors == nil {
		l.cursors = make(map[string]*localCursor)
	}
	l.cursors[d.Name] = &localCursor{rows: rs, hold: d.Hold, ready: l.seen, inTx: l.inBlock()}
	l.out = wire.AppendMessageOf(l.out, &pgproto3.CommandComplete{CommandTag: []byte("DECLARE CURSOR")})
	return nil
}

// inBlock reports whether statements run in a transaction block: an
// explicit one, or the implicit one of a Query with several statements.
func (l *localState) inBlock() bool {
	return l.implicit || byte(l.ss.txStatus.Load()) == 'T'
}

// cursorCommand runs FETCH, MOVE or CLOSE on a cursor of the proxy's;
// describe says whether FETCH sends a RowDescription first (the simple
// protocol).
func (l *localState) cursorCommand(f *statusdb.Fetch, describe bool) error {
	l.expire()
	if f.Close && f.Name == "" {
		clear(l.cursors)
		l.out = wire.AppendMessageOf(l.out, &pgproto3.CommandComplete{CommandTag: []byte("CLOSE CURSOR ALL")})
		return nil
	}
	c, ok := l.cursors[f.Name]
	if !ok {
		return &Error{Severity: "ERROR", Code: "34000", Message: "cursor \"" + f.Name + "\" does not exist"}
	}
	if f.Close {
		delete(l.cursors, f.Name)
		l.out = wire.AppendMessageOf(l.out, &pgproto3.CommandComplete{CommandTag: []byte("CLOSE CURSOR")})
		return nil
	}
	at := len(l.out)
	if describe && !f.Move {
		l.out = rowDescription(l.out, c.rows.cols, c.rows.formats)
	}
	out, n, err := c.rows.fetch(l.out, f)
	if err != nil {
		l.out = l.out[:at]
		return err
	}
	tag := "FETCH "
	if f.Move {
		tag = "MOVE "
	}
	l.out = wire.AppendMessageOf(out, &pgproto3.CommandComplete{CommandTag: strconv.AppendInt([]byte(tag), n, 10)})
	return nil
}

// executeLimited runs a portal's SELECT for at most max rows (0: the
// rest), as PostgreSQL runs a portal: PortalSuspended when rows may
// remain, CommandComplete "SELECT n" with the rows of this Execute once
// the end was reached.
func (l *localState) executeLimited(p *localPortal, in statusdb.Input, max int32) error {
	st := p.stmt
	if p.rows == nil {
		if err := st.Check(in); err != nil {
			return err
		}
		formats := columnFormats(len(st.Columns()), p.resultFormats)
		data, _, err := st.AppendDataRows(nil, in, p.params, p.paramFormats, formats)
		if err != nil && len(data) == 0 {
			return err
		}
		p.rows = newRowSet(st.Columns(), formats, data)
		p.rows.err = err
	}
	count := int64(max)
	if max <= 0 {
		count = statusdb.FetchAll
	}
	out, n, err := p.rows.run(l.out, true, count, true)
	if err != nil {
		l.out = out
		return err
	}
	if !p.rows.atEnd() {
		l.out = wire.AppendMessageOf(out, &pgproto3.PortalSuspended{})
		return nil
	}
	l.out = wire.AppendMessageOf(out, &pgproto3.CommandComplete{CommandTag: []byte(st.CommandTag(int(n)))})
	return nil
}

// copyOut answers COPY ... TO STDOUT: CopyOutResponse, a CopyData per
// line, CopyDone and "COPY n", as PostgreSQL sends them.
func (l *localState) copyOut(c *statusdb.Copy, in statusdb.Input, params [][]byte, paramFormats []int16) error {
	if err := c.Query.Check(in); err != nil {
		return err
	}
	data, n, err := c.AppendCopyData(nil, in, params, paramFormats)
	// As in PostgreSQL, an error computing the rows comes after the
	// CopyOutResponse (and ends the copy without CopyDone).
	resp := pgproto3.CopyOutResponse{ColumnFormatCodes: make([]uint16, len(c.Query.Columns()))}
	if c.Binary() {
		resp.OverallFormat = 1
		for i := range resp.ColumnFormatCodes {
			resp.ColumnFormatCodes[i] = 1
		}
	}
	l.out, _ = resp.Encode(l.out)
	if err != nil {
		return err
	}
	l.out = append(l.out, data...)
	l.out = wire.AppendMessageOf(l.out, &pgproto3.CopyDone{})
	l.out = wire.AppendMessageOf(l.out, &pgproto3.CommandComplete{CommandTag: []byte("COPY " + strconv.Itoa(n))})
	return nil
}

// endTransaction ends the status database's portals and cursors with the
// transaction that COMMIT or ROLLBACK ends: all portals, cursors without
// WITH HOLD, and on ROLLBACK those WITH HOLD declared in it.
func (l *localState) endTransaction(commit bool) {
	clear(l.portals)
	for name, c := range l.cursors {
		if !c.hold || !commit && c.inTx {
			delete(l.cursors, name)
		}
		c.inTx = false
	}
}
