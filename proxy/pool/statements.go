package pool

import (
	"fmt"
	"sync"

	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// MaxServerStatements bounds the prepared statements a connection may hold
// when it is given back: one holding more is closed rather than pooled,
// which frees them on the server.
const MaxServerStatements = 500

// Statement is a prepared statement as the proxy names it on servers: one
// name per distinct statement text and parameter types, shared by every
// client that prepares it.
type Statement struct {
	ID    uint64
	Name  string
	Parse []byte // the Parse message under Name
	// Lasts: what its text may leave on the session's connection beyond
	// its transaction (wire.Lasting).
	Lasts wire.Lasts
	def   string // the Parse body after the name: the registry's key
	users int    // client statements naming it; guarded by the registry's mu
}

// Statements names statements for servers. An entry lives as long as a
// client statement names it, so that clients preparing ever new texts
// (constants inlined) cannot grow it without bound; ids are never reused,
// so a server never mistakes a new statement for an old one.
type Statements struct {
	mu   sync.Mutex
	refs map[string]*Statement
	next uint64
}

// Ref returns the statement for a Parse body after its name, counting one
// more client statement that names it (Release undoes that).
func (r *Statements) Ref(def []byte) *Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref := r.refs[string(def)]; ref != nil {
		ref.users++
		return ref
	}
	if r.refs == nil {
		r.refs = make(map[string]*Statement)
	}
	r.next++
	ref := &Statement{ID: r.next, Name: fmt.Sprintf("helios_%d", r.next), def: string(def), users: 1,
		Lasts: wire.Lasting(def)}
	ref.Parse = wire.AppendMessage(nil, 'P', []byte(ref.Name), []byte{0}, def)
	r.refs[ref.def] = ref
	return ref
}

// Release ends one client statement's use of ref.
func (r *Statements) Release(ref *Statement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref.users--; ref.users == 0 && r.refs[ref.def] == ref {
		delete(r.refs, ref.def)
	}
}

// Len returns how many statements are named.
func (r *Statements) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.refs)
}
