package session

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/listen"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/route"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Buffer sizes: one buffer per direction of every session.
const (
	ClientBufSize  = 8 << 10
	backendBufSize = 8 << 10
	// backendMaxBody bounds a single message from a backend during the
	// authentication phase, where whole messages are read.
	backendMaxBody = 1 << 20
)

// session is one client connection relayed to one backend.
type session struct {
	s      *Front
	client net.Conn
	cs     *wire.Stream // client side
	params map[string]string
	raw    []byte // the StartupMessage as received, re-sent to the backend

	pid    uint32 // BackendKeyData the client sees
	secret [4]byte

	// targetMu guards b, serverPID and serverKey, where a cancel for the
	// session goes, against forwardCancel.
	targetMu sync.Mutex

	b         *backend.Backend
	ticket    breaker.Ticket
	server    net.Conn
	ss        *wire.Stream // server side
	serverPID uint32
	serverKey []byte

	pending  backend.Pending
	local    localState    // statements the proxy answers itself
	wmu      sync.Mutex    // serializes writes to the client during the relay
	sink     clientSink    // pooled: answers read by event loops for the client
	txStatus atomic.Uint32 // transaction status of the last ReadyForQuery
	// idleReady counts ReadyForQuery messages with status idle: each ends
	// a transaction, and the proxy's portals and cursors made in it.
	idleReady  atomic.Uint64
	timeZone   atomic.Value // string: the session's TimeZone as the backend reported it
	dateStyle  atomic.Value // string: DateStyle, likewise
	intervals  atomic.Value // string: IntervalStyle, likewise
	cancelAt   atomic.Int64 // unix nanos of the last cancel forwarded for this session, or CopyFail relayed
	terminated atomic.Bool  // the client sent Terminate
	discard    atomic.Bool  // drop the backend's answers up to its next ReadyForQuery (abortQuery's)
	drop       atomic.Int32 // dropFilter's modes: the proxy's own requests of a mixed request are answered
	count      relayCount   // requests relayed and answered, to order the proxy's answers among them

	// waiting: a pooled session's request waits for a server connection
	// (attachRouted); cancelled: a CancelRequest for the session came
	// meanwhile, so the request must not run (cancelledWaiting).
	waiting, cancelled atomic.Bool
	// waitCtx and withdraw end such a wait (wakeWaiting): the context of
	// the goroutine's waits, and the withdrawal of a loop's wait in a
	// pool's queue (nil when none).
	waitCtx  atomic.Pointer[waitCtx]
	withdraw atomic.Pointer[func(error)]
	// lingerOnClose: an error was sent before closing; see linger.
	lingerOnClose bool
	evicted       atomic.Bool // ended for another login (evict)
	// end ends a pass-through session from outside (Front.Fence), with
	// the error its client is sent as the cause; nil before its routing.
	end context.CancelCauseFunc
	// authWait is since when (unix nanos) a session that is not yet
	// authenticated waits on its client, 0 when it does not.
	authWait atomic.Int64
	// clientBlocked is when the write to the client under way began (unix
	// nanos), 0 when none is, and wrote when the last one ended: a request
	// waiting on its client is no stall, and one whose answer is streaming
	// has been waiting on its backend only since the last write.
	clientBlocked, wrote atomic.Int64
	// copyWait is since when (unix nanos) the backend awaits the client's
	// COPY data (its CopyInResponse or CopyBothResponse went out), 0 when
	// it does not; copyHeld sums such waits that ended in the current
	// request. Like a blocked write, that time is the client's: neither
	// the backend's latency nor a stall (a loader streaming COPY for
	// minutes, a replication stream).
	copyWait, copyHeld atomic.Int64
	trackSlot          atomic.Int64  // TrackSlot
	clientErr          error         // protocol violation by the client during the relay
	stopped            chan struct{} // closed when the relay stops
	stopOnce           sync.Once

	// released: an event loop handed the sockets back as new connections
	// (loopRelay), which ss.client and ss.server now are.
	released bool

	pl *pooled // non-nil for [[users]] sessions

	// role and roleDB name its role's limits and breaker (user), looked
	// up while user-level breakers are on; tenant is their entry, once
	// looked up.
	role, roleDB string
	tenant       atomic.Pointer[tenant.Entry]
	admits       atomic.Int32 // pass-through: backend admissions held by requests awaiting their ReadyForQuery
}

// Serve runs the session of one client connection until it ends, and
// closes conn. A panic in it costs that session only.
func (s *Front) Serve(ctx context.Context, conn net.Conn) {
	var ss *session
	defer func() { // last: after the session let go of everything
		if ss != nil && ss.lingerOnClose {
			ss.linger()
		}
		conn.Close()
		if ss != nil && ss.released {
			ss.client.Close()
		}
	}()
	log := &clientLog{base: s.log, conn: conn}
	// A bug must cost one session, never the process.
	defer func() {
		if r := recover(); r != nil {
			log.Error("session failed on an internal error; connection closed", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	listen.TuneConn(conn, s.config().Proxy.ClientWriteTimeout.Duration)
	ss = &session{s: s, client: conn, stopped: make(chan struct{})}
	ss.setClientStream(conn)
	defer func() { ss.cs.Release() }()
	ss.local.init(ss)
	_ = conn.SetDeadline(s.clock.Now().Add(s.startupTimeout))
	if err := ss.startup(ctx); err != nil {
		// Only a malformed packet gets an answer; a client that went away
		// or went quiet is closed silently, as PostgreSQL does.
		if ss.client != nil && (errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrMemory)) {
			ss.fail(err)
		}
		if !errors.Is(err, io.EOF) {
			log.Debug("session not started", "err", err)
		}
		return
	}
	if ss.params == nil {
		return // a cancel request, answered
	}
	defer s.dropKey(ss)
	n := s.clients.Add(1)
	defer s.clients.Add(-1)
	if ss.params["database"] == StatusDatabase {
		// Status sessions need no password from loopback: a cap of their
		// own keeps them from taking the clients' connections.
		n := s.statusSessions.Add(1)
		defer s.statusSessions.Add(-1)
		if limit := s.config().Proxy.MaxStatusConnections; n > int64(limit) {
			ss.fail(&Error{Code: codeTooManyConns, Message: "sorry, too many clients already",
				Detail: fmt.Sprintf("HeliosProxy serves at most %d sessions on the helios_proxy database (proxy.max_status_connections).", limit)})
			log.Warn("client refused: proxy.max_status_connections reached", "limit", limit)
			return
		}
	}
	if limit := s.config().Pool.MaxClientConn; limit > 0 {
		// The status database has a few connections of its own beyond the
		// limit, as PostgreSQL reserves some for superusers: operators
		// can look when the proxy is full, and the total stays bounded.
		if ss.params["database"] == StatusDatabase {
			limit += StatusReserved
		}
		if n > int64(limit) && !s.makeRoom(ctx, ss, int64(limit)) {
			ss.fail(&Error{Code: codeTooManyConns, Message: "sorry, too many clients already",
				Detail: fmt.Sprintf("HeliosProxy serves at most %d client connections (pool.max_client_conn).", s.config().Pool.MaxClientConn)})
			log.Warn("client refused: pool.max_client_conn reached", "limit", limit)
			return
		}
	}
	ss.cs.Waiting = &ss.authWait
	u := s.user(ss.params["user"])
	if ss.params["database"] == StatusDatabase || u != nil {
		// The proxy answers the login: it speaks protocol 3.0, and says so
		// as PostgreSQL does (a pass-through backend says it itself).
		if v := wire.NegotiateProtocol(ss.raw, ss.params); v != nil {
			if _, err := ss.client.Write(v); err != nil {
				return
			}
		}
	}
	if ss.params["database"] == StatusDatabase {
		if err := ss.serveLocal(ctx); err != nil {
			var pe *Error
			switch {
			case ss.evicted.Load():
				ss.fail(errEvicted)
			case errors.As(err, &pe) || errors.Is(err, wire.ErrProtocol):
				ss.fail(err)
			}
			log.Debug("status database session ended", "err", err)
		}
		return
	}
	ss.role, ss.roleDB = ss.params["user"], ss.params["database"]
	if ss.roleDB == "" {
		ss.roleDB = ss.role
	}
	if u != nil {
		ss.servePooled(ctx, log, u)
		return
	}
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	ss.end = end
	if err := ss.connect(ctx); err != nil {
		ss.refuse(log, err)
		return
	}
	defer ss.b.Active.Add(-1)
	defer ss.b.Untrack(ss)
	defer ss.releaseAll(ss.b)
	defer func() { ss.server.Close() }() // the event loop may replace it (loopRelay)
	ss.authenticated()
	_ = ss.client.SetDeadline(time.Time{})
	_ = ss.server.SetDeadline(time.Time{})
	log.Debug("session started", "backend", ss.b.Config.Name, "session_id", ss.pid)
	ss.relay(ctx)
}

// fail sends err to the client as an ErrorResponse.
func (ss *session) fail(err error) {
	ce := toClient(err)
	if errors.Is(err, wire.ErrProtocol) {
		ce = &Error{Code: codeProtocolViolation, Message: err.Error(), Err: err}
	}
	_ = ss.client.SetWriteDeadline(ss.s.clock.Now().Add(time.Second))
	if _, err := ss.client.Write(ce.Append(nil)); err == nil {
		ss.lingerOnClose = true
	}
}

// lingerBytes and lingerTime bound what linger reads and waits.
const (
	lingerBytes = 1 << 20
	lingerTime  = 250 * time.Millisecond
)

// linger lets a refused client read its ErrorResponse (fail asks for it
// with lingerOnClose): closing a socket
// with unread input sends a reset, and a client still writing (the rest of
// an oversized message, say) may lose the error with it. So the proxy
// stops writing, reads what the client still sends for a moment, and only
// then does the caller close.
func (ss *session) linger() {
	cw, ok := ss.client.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = ss.client.SetReadDeadline(ss.s.clock.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(ss.client, lingerBytes))
}

// startup handles the untyped packets up to the StartupMessage.
func (ss *session) startup(ctx context.Context) error {
	var sslAsked, gssAsked bool
	for {
		p, err := ss.cs.StartupPacket()
		if err != nil {
			return err
		}
		msg, err := wire.DecodeStartup(p)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if sslAsked {
				return wire.ProtocolErrorf("SSLRequest sent twice")
			}
			sslAsked = true
			if err := ss.startTLS(); err != nil {
				return err
			}
		case *pgproto3.GSSEncRequest:
			if gssAsked {
				return wire.ProtocolErrorf("GSSENCRequest sent twice")
			}
			gssAsked = true
			if _, err := ss.client.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			ss.s.forwardCancel(ctx, m)
			return nil
		case *pgproto3.StartupMessage:
			ss.params = m.Parameters
			ss.raw = append([]byte(nil), p...)
			return ss.s.issueKey(ss)
		}
	}
}

func (ss *session) startTLS() error {
	if len(ss.cs.Buffered()) > 0 {
		// Bytes sent after SSLRequest but before the handshake would be
		// processed as if they had come over TLS (CVE-2021-23222).
		return wire.ProtocolErrorf("data received after SSLRequest before the TLS handshake")
	}
	tc := ss.s.tlsConfig.Load()
	if _, isTLS := ss.client.(*tls.Conn); isTLS || tc == nil {
		_, err := ss.client.Write([]byte{'N'})
		return err
	}
	if _, err := ss.client.Write([]byte{'S'}); err != nil {
		return err
	}
	// Over a Pipe: an event loop can own the socket (looptls.go).
	conn := tls.Server(evloop.NewPipe(ss.client), tc)
	if err := conn.Handshake(); err != nil {
		ss.client = nil // nothing can be sent on a failed handshake
		return err
	}
	ss.client = conn
	ss.cs.Release()
	ss.setClientStream(conn)
	return nil
}

// Waiting tells the stall detector since when the session's oldest
// pending request has waited on its backend (a backend.Tracked): not
// while the session is blocked writing to its client, and for an answer
// that is streaming, since the last write.
func (ss *session) Waiting() (since int64, gen uint64, ok bool) {
	start, gen, key := ss.pending.Oldest()
	if start == 0 || ss.clientBlocked.Load() != 0 || ss.copyWait.Load() != 0 {
		return 0, 0, false
	}
	if reg := ss.s.Patterns; key != 0 && reg != nil && reg.Handles(key, ss.s.clock.Now()) {
		// Its pattern's breaker deals with it: not the backend's latency.
		return 0, 0, false
	}
	return max(start, ss.wrote.Load()), gen, true
}

// TrackSlot is where the backend that tracks the session keeps its place
// (a backend.Tracked).
func (ss *session) TrackSlot() *atomic.Int64 { return &ss.trackSlot }

// Running returns since when the session's oldest pending request has
// run and its pattern key (a backend.Tracked).
func (ss *session) Running() (start int64, key pattern.Key) {
	start, _, key = ss.pending.Oldest()
	if start == 0 || ss.clientBlocked.Load() != 0 || ss.copyWait.Load() != 0 {
		return 0, 0
	}
	return max(start, ss.wrote.Load()), key
}

// SilentSince returns since when a session that is not yet authenticated
// has waited on its client, 0 when it does not (a backend.Login).
func (ss *session) SilentSince() int64 { return ss.authWait.Load() }

// Evict ends a login stuck on its client for another: its read fails at
// once, and it is told why (errEvicted).
func (ss *session) Evict() {
	ss.authWait.Store(0) // not chosen twice
	ss.evicted.Store(true)
	_ = ss.client.SetReadDeadline(time.Unix(1, 0))
}

// errEvicted answers a login that evict ended.
var errEvicted = &Error{Code: codeTooManyConns, Message: "sorry, too many clients already",
	Detail: "Every login slot was in use, and this login had waited longest to answer the password challenge.",
	Hint:   "Retry the connection."}

// authenticated ends the phase in which a session may be evicted for
// another (evictSilentLogin).
func (ss *session) authenticated() {
	ss.cs.Waiting = nil
	ss.authWait.Store(0)
}

// makeRoom makes room for ss when pool.max_client_conn is reached, by
// ending the login that has waited longest on its silent client, once that
// is past backend.LoginPreemptAfter. While logins are waiting on their clients but
// none long enough, it waits a little for one to be; otherwise it gives up
// at once, as a full PostgreSQL does. It reports whether ss may go on.
func (s *Front) makeRoom(ctx context.Context, ss *session, limit int64) bool {
	timer := time.NewTimer(backend.LoginPreemptAfter + backend.LoginRecheck)
	defer timer.Stop()
	recheck := time.NewTicker(backend.LoginRecheck)
	defer recheck.Stop()
	for {
		evicted, waiting := s.evictSilentLogin(ss)
		switch {
		case evicted:
			return true
		case !waiting:
			return false
		}
		select {
		case <-recheck.C:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
		if s.clients.Load() <= limit {
			return true
		}
	}
}

// evictSilentLogin ends the login that has waited longest on its silent
// client (longestSilent) to make room for ss; waiting reports whether any
// login is waiting on its client.
func (s *Front) evictSilentLogin(ss *session) (evicted, waiting bool) {
	s.keysMu.Lock()
	victim, waiting := backend.LongestSilent(maps.Values(s.keys), ss)
	s.keysMu.Unlock()
	if victim != nil {
		victim.Evict()
	}
	return victim != nil, waiting
}

// Message size limits by phase: before and during authentication a
// client may send no more than PostgreSQL accepts there
// (PG_MAX_AUTH_TOKEN_LENGTH); a status-database session needs no more
// than a status query; only a relayed session gets proxy.max_message_size.
const (
	maxAuthMessage   = 65535
	MaxStatusMessage = 1 << 20
	// StatusReserved is how many status-database sessions may exist
	// beyond pool.max_client_conn.
	StatusReserved = 3
)

// setClientStream reads the client on conn with the authentication
// phase's message limit and the proxy's buffer budget.
func (ss *session) setClientStream(conn net.Conn) {
	ss.cs = wire.NewStream(conn, ClientBufSize, maxAuthMessage)
	ss.cs.Budget = &ss.s.Buffers
}

// forwardCancel sends a client's CancelRequest to the backend that runs
// the session it names; unknown keys are ignored, as PostgreSQL does. It
// goes with the backend's TLS settings, as a session's connection does:
// PostgreSQL takes a CancelRequest after the TLS handshake too, and the
// key, which cancels whatever the server process runs, stays off the wire
// where the configuration asks for TLS.
func (s *Front) forwardCancel(ctx context.Context, m *pgproto3.CancelRequest) {
	ss := s.sessionByKey(m.ProcessID)
	if ss == nil || subtle.ConstantTimeCompare(ss.secret[:], m.SecretKey) != 1 {
		s.log.Debug("cancel request for an unknown session ignored", "session_id", m.ProcessID)
		return
	}
	b, pid, key := ss.cancelTarget()
	if b == nil {
		if ss.waiting.Load() {
			// Its statement waits for a server connection: it will not
			// run (attachRouted).
			ss.cancelled.Store(true)
			ss.cancelAt.Store(s.clock.Now().UnixNano())
			ss.wakeWaiting()
		}
		return
	}
	ss.cancelAt.Store(s.clock.Now().UnixNano())
	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	conn, err := b.Dial(dctx, s.config())
	if err != nil {
		s.log.Warn("cancel request not forwarded", "backend", b.Config.Name, "session_id", ss.pid, "err", err)
		return
	}
	defer conn.Close()
	req, _ := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: key}).Encode(nil)
	_ = conn.SetDeadline(s.clock.Now().Add(s.connectTimeout))
	if _, err := conn.Write(req); err != nil {
		s.log.Warn("cancel request not forwarded", "backend", b.Config.Name, "session_id", ss.pid, "err", err)
		return
	}
	// PostgreSQL closes the connection once it has handled the request.
	_, _ = conn.Read(make([]byte, 1))
}

// cancelTarget returns where a cancel for this session must go, once the
// session is attached.
func (ss *session) cancelTarget() (*backend.Backend, uint32, []byte) {
	ss.targetMu.Lock()
	defer ss.targetMu.Unlock()
	return ss.b, ss.serverPID, ss.serverKey
}

// readOnly reports whether the client asked for a read-only session, the
// only kind a backend with allowed_query_types = ["SELECT"] accepts.
func (ss *session) readOnly() bool {
	on := func(v string) bool {
		v = strings.ToLower(strings.TrimSpace(v))
		return v == "on" || v == "true" || v == "1" || v == "yes"
	}
	v, _ := startupSetting(ss.params, "default_transaction_read_only")
	return on(v)
}

// errRetry marks a backend failure that happened before the client saw any
// of it, so that another backend may be tried.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// connect routes the session and authenticates the client against the
// chosen backend, trying others while nothing has reached the client.
func (ss *session) connect(ctx context.Context) error {
	var tried []*backend.Backend
	var refused route.Refusals
	readOnly := ss.readOnly()
	for {
		b, t, err := ss.s.router.RouteWait(ctx, readOnly, tried, ss.s.config().Backends.PrimaryWaitTimeout.Duration)
		if err != nil {
			return ss.s.router.NoBackend(err, readOnly, &refused)
		}
		tried = append(tried, b)
		err = ss.attach(ctx, b, t)
		if err == nil {
			return nil
		}
		b.Active.Add(-1)
		var retry errRetry
		if !errors.As(err, &retry) {
			return err
		}
		refused.Note(b, retry.err)
		ss.s.log.Info("backend failed before the session started; trying another", "backend", b.Config.Name, "session_id", ss.pid, "err", retry.err)
	}
}

// attach opens a connection to b and relays the authentication exchange.
// Only the backend's own time counts as its latency: waiting for a login
// slot or for the client's answers to the password challenge does not.
func (ss *session) attach(ctx context.Context, b *backend.Backend, t breaker.Ticket) error {
	if err := ss.refuseTrusted(ctx, b, t); err != nil {
		return err
	}
	s := ss.s
	limit := s.config().Proxy.MaxLoginsPerBackend
	if !b.Logins.Acquire(ctx, ss, limit, s.connectTimeout) {
		b.Breaker.Release(t)
		if ctx.Err() != nil {
			return &Error{Code: codeAdminShutdown, Message: "the proxy is shutting down"}
		}
		s.log.Warn("login refused: every login slot of the backend is in use", "backend", b.Config.Name, "limit", limit)
		return errLoginsBusy(b.Config.Name, limit)
	}
	defer b.Logins.Release(ss)
	start := s.clock.Now()
	// The connection attempt is a pending request until the backend is
	// ready: a backend that hangs in startup is a stall too.
	lc := &loginClock{ss: ss, t: t, start: start}
	lc.resume(start)
	b.Track(ss)
	defer lc.stop()
	record := func(o breaker.Outcome) {
		now := s.clock.Now()
		b.Connected(t, o, now.Sub(start)-lc.client, now)
	}
	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	conn, err := b.Dial(dctx, s.config())
	cancel()
	if err != nil {
		b.Untrack(ss)
		record(breaker.Failure)
		return errRetry{err}
	}
	bs := wire.NewStream(conn, backendBufSize, backendMaxBody)
	forwarded, err := ss.authenticate(conn, bs, lc)
	if err != nil {
		b.Untrack(ss)
		conn.Close()
		var be *wire.BackendError
		switch {
		case errors.As(err, &be):
			// A malformed password or SCRAM message from the client (08P01)
			// is excluded too: the backend is fine.
			o := backend.LoginOutcome(be.Code)
			if be.Own {
				o = breaker.Excluded
			}
			record(o)
			if !forwarded && (o == breaker.Failure || o == breaker.Overload) {
				return errRetry{err}
			}
			// The client already has the backend's ErrorResponse; the log
			// gets its SQLSTATE and the backend.
			return refusedBy{backend: b.Config.Name, err: be}
		case ctx.Err() != nil:
			b.Breaker.Release(t)
			return endedBy(ctx, err)
		case errors.Is(err, errClient):
			b.Breaker.Release(t)
			return err
		}
		record(breaker.Failure)
		if !forwarded {
			return errRetry{err}
		}
		return &Error{Code: codeConnectionFailure, Message: "backend connection failed during authentication", Err: err}
	}
	record(breaker.Success)
	lc.firstRequest(s.clock.Now())
	ss.targetMu.Lock()
	ss.b, ss.ticket, ss.server, ss.ss = b, t, conn, bs
	ss.targetMu.Unlock()
	return nil
}

// loginClock follows a pass-through login's time: the backend's turns are
// pending requests (for the stall rule) and count as its latency; the
// client's turns do neither, so that a client slow to answer the password
// challenge cannot make a healthy backend look slow.
type loginClock struct {
	ss      *session
	t       breaker.Ticket
	start   time.Time
	pending bool          // a pending request is pushed for the backend's turn
	client  time.Duration // the client's turns so far
	asked   bool          // the backend's first authentication request was timed
}

// firstRequest notes when the backend first asked the client something
// (or let it in without asking), for mimicBackendLogin.
func (lc *loginClock) firstRequest(now time.Time) {
	if !lc.asked {
		lc.asked = true
		lc.ss.s.challenges.add(now.Sub(lc.start))
	}
}

func (lc *loginClock) resume(now time.Time) {
	lc.ss.pending.Push(now.UnixNano(), lc.t, pattern.Req{})
	lc.pending = true
}

func (lc *loginClock) stop() {
	if lc.pending {
		lc.ss.pending.Pop()
		lc.pending = false
	}
}

// clientTurn runs wait, the client's turn, with the backend's clock
// stopped.
func (lc *loginClock) clientTurn(wait func() error) error {
	s := lc.ss.s
	lc.stop()
	from := s.clock.Now()
	lc.firstRequest(from)
	err := wait()
	now := s.clock.Now()
	lc.client += now.Sub(from)
	lc.resume(now)
	return err
}

// errRefused means the backend refused the session and the client has
// been told why.
var errRefused = errors.New("backend refused the session")

// refusedBy is errRefused with the backend's own error: its SQLSTATE
// (28P01 for a wrong password, 3D000, 53300, …) and which backend refused.
type refusedBy struct {
	backend string
	err     *wire.BackendError
}

func (r refusedBy) Error() string {
	return "backend " + r.backend + " refused the session: sqlstate " + r.err.Code
}
func (r refusedBy) Is(target error) bool { return target == errRefused }
func (r refusedBy) Unwrap() error        { return r.err }

// errClient marks a failure on the client's side of the authentication.
var errClient = errors.New("client connection failed during authentication")

// authenticate sends the client's StartupMessage to the backend and relays
// the authentication exchange until the backend is ready for queries.
// forwarded reports whether any backend message reached the client.
func (ss *session) authenticate(conn net.Conn, bs *wire.Stream, lc *loginClock) (forwarded bool, err error) {
	s := ss.s
	backendDeadline := func() { _ = conn.SetReadDeadline(s.clock.Now().Add(s.connectTimeout)) }
	_ = conn.SetWriteDeadline(s.clock.Now().Add(s.connectTimeout))
	if _, err := conn.Write(ss.raw); err != nil {
		return false, err
	}
	_, overTLS := conn.(*tls.Conn)
	binding := false // the client wants channel binding, which cannot pass through (dial.WithoutPlus)
	var out []byte   // messages for the client, flushed before waiting on it
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		forwarded = true
		_, err := ss.client.Write(out)
		out = out[:0]
		if err != nil {
			return errors.Join(errClient, err)
		}
		return nil
	}
	for {
		backendDeadline()
		typ, m, err := bs.Message()
		if err != nil {
			return forwarded, err
		}
		switch typ {
		case 'R':
			if len(m) < 9 {
				return forwarded, wire.ProtocolErrorf("short authentication message from backend")
			}
			authType := binary.BigEndian.Uint32(m[5:9])
			if authType == pgproto3.AuthTypeSASL && overTLS {
				m = dial.WithoutPlus(m)
			}
			out = append(out, m...)
			switch authType {
			case pgproto3.AuthTypeOk, pgproto3.AuthTypeSASLFinal: // nothing to answer
				continue
			}
			var reply []byte
			err := lc.clientTurn(func() error {
				if err := flush(); err != nil {
					return err
				}
				var err error
				if _, reply, err = ss.cs.Message(); err != nil {
					return errors.Join(errClient, err)
				}
				return nil
			})
			if err != nil {
				return forwarded, err
			}
			if reply[0] != 'p' {
				return forwarded, errors.Join(errClient, wire.ProtocolErrorf("expected a password message, got type %q", reply[0]))
			}
			binding = authType == pgproto3.AuthTypeSASL && overTLS && dial.WantsBinding(reply)
			_ = conn.SetWriteDeadline(s.clock.Now().Add(s.connectTimeout))
			if _, err := conn.Write(reply); err != nil {
				return forwarded, err
			}
		case 'K':
			if len(m) < 13 {
				return forwarded, wire.ProtocolErrorf("short BackendKeyData from backend")
			}
			ss.serverPID = binary.BigEndian.Uint32(m[5:9])
			ss.serverKey = append([]byte(nil), m[9:]...)
			out, _ = (&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret[:]}).Encode(out)
		case 'S':
			ss.parameterStatus(m[5:])
			out = append(out, m...)
		case 'N', 'v':
			out = append(out, m...)
		case 'E':
			if binding { // PostgreSQL refuses the "y" as a downgrade
				out = append(out, dial.WithHint(m, dial.BindingHint)...)
				_ = flush()
				return forwarded, errors.Join(errClient, errRefused, errChannelBinding)
			}
			_, code := wire.ErrorFields(m[5:])
			own := wire.OwnError(code, m[5:], true)
			o := breaker.Classify(code, false)
			if forwarded || own || (o != breaker.Failure && o != breaker.Overload) {
				out = append(out, m...)
				_ = flush()
			}
			return forwarded, &wire.BackendError{Code: code, Own: own}
		case 'Z':
			if len(m) == 6 {
				ss.txStatus.Store(uint32(m[5]))
			}
			out = append(out, m...)
			return forwarded, flush()
		default:
			return forwarded, wire.ProtocolErrorf("unexpected message type %q from backend during authentication", typ)
		}
	}
}

// relay copies the session both ways until either side ends it: on an
// event loop when the proxy runs them and both connections are plain
// sockets (looprelay.go), in two goroutines otherwise, and from the
// moment a loop hands the session over (a statement the proxy answers, an
// admission that may wait).
func (ss *session) relay(ctx context.Context) {
	ss.local.startPath(ss.params)
	c2s := &clientSide{h: clientHandler{ss: ss, ctx: ctx}}
	c2s.sc = wire.Scanner{H: &c2s.h, MaxBody: ss.s.maxBody, Hold: true}
	b2c := &serverHandler{ss: ss}
	b2c.sc = wire.Scanner{H: b2c, MaxBody: 1<<31 - 1, TailOf: 'E', Tail: b2c.errorTail}
	// Bytes the backend sent right after ReadyForQuery: relayed before
	// reading again.
	res := loopResult{fromServer: ss.ss.Buffered()}
	if g := ss.s.Loops(); g != nil {
		res = ss.loopRelay(ctx, g, c2s, b2c, res.fromServer)
	}
	if res.done {
		ss.markStopped()
		return
	}

	errc := make(chan error, 2)
	// Both deadlines: a direction may be blocked writing to a peer that
	// stopped reading.
	stop := func() {
		past := time.Unix(1, 0)
		_ = ss.client.SetDeadline(past)
		_ = ss.server.SetDeadline(past)
		ss.markStopped()
	}
	defer context.AfterFunc(ctx, stop)()
	// Each direction first writes the TLS records a loop left for its peer
	// (looptls.go): the rest of what the loop relayed. A direction the
	// loop ended has at most its last bytes to write.
	go func() {
		errc <- ss.recovered(func() error {
			if err := flushRecords(ss.server); err != nil {
				return err
			}
			if res.c2s == nil {
				return ss.clientToServer(c2s, res.toServer, res.taken)
			}
			return ss.drain(func(p []byte) error { _, err := ss.server.Write(p); return err }, res.toServer, res.c2s)
		})
	}()
	go func() {
		errc <- ss.recovered(func() error {
			if err := b2c.flushRecords(); err != nil {
				b2c.unlock()
				return err
			}
			if res.s2c == nil {
				return ss.serverToClient(b2c, res.toClient, res.fromServer)
			}
			return ss.drain(func(p []byte) error { defer b2c.unlock(); return b2c.write(p) }, res.toClient, res.s2c)
		})
	}()
	if err := <-errc; errors.Is(err, errTerminated) {
		// Relay what the backend still answers until it closes, but never
		// wait on a hung backend longer than a connection attempt.
		_ = ss.server.SetReadDeadline(ss.s.clock.Now().Add(ss.s.connectTimeout))
		<-errc
	} else {
		stop()
		<-errc
	}
	now := ss.s.clock.Now()
	// An ErrorResponse may follow only whole messages.
	atBoundary := b2c.sc.AtBoundary() && !b2c.cut
	switch {
	case ss.clientErr != nil:
		if atBoundary {
			ss.fail(ss.clientErr)
		}
		ss.s.log.Info("client protocol violation; session closed", "session_id", ss.pid, "err", ss.clientErr)
	case ctx.Err() != nil:
		if atBoundary {
			ss.fail(endedBy(ctx, nil))
		}
	case b2c.lost && !ss.terminated.Load() && (b2c.fatal == "" || breaker.Classify(b2c.fatal, false) == breaker.Failure):
		if b2c.fatal == codeAdminShutdown {
			ss.b.Terminated(now) // shutdown, or pg_terminate_backend
		} else {
			ss.b.Note(ss.b.Breaker.RecordConnLoss(ss.b.Breaker.Current(), now))
		}
		if atBoundary && b2c.fatal == "" {
			ss.fail(&Error{Code: codeConnectionFailure, Message: "server closed the connection unexpectedly", Detail: "The backend " + ss.b.Config.Name + " failed; reconnect to be routed to a healthy backend."})
		}
	}
}

// endedBy is what a pass-through session whose ctx ended tells its
// client: the cause it was ended with (Front.Fence), else that the proxy
// is shutting down. err is the failure it caused, for the logs.
func endedBy(ctx context.Context, err error) *Error {
	var pe *Error
	if errors.As(context.Cause(ctx), &pe) {
		return pe
	}
	return &Error{Code: codeAdminShutdown, Message: "terminating connection: the proxy is shutting down", Err: err}
}

// markStopped tells whoever waits on the relay (ss.stopped) that it
// stopped.
func (ss *session) markStopped() { ss.stopOnce.Do(func() { close(ss.stopped) }) }

// drain writes what a direction that ended still had to write, and
// returns how it ended.
func (ss *session) drain(write func([]byte) error, p []byte, end error) error {
	if len(p) > 0 {
		if err := write(p); err != nil {
			return err
		}
	}
	return end
}

// recovered runs fn, turning a panic into an error so that a bug in one
// relay direction ends its session only.
func (ss *session) recovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ss.s.log.Error("relay failed on an internal error; session closed", "session_id", ss.pid, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return fn()
}

// clientToServer relays client messages to the backend, noting when each
// request (Query or Sync) starts, and answers helios_proxy statements
// itself. out is what an event loop had yet to write to the backend;
// taken, that the message at the stream's read position is the proxy's
// to answer (the loop handed the session over for it).
func (ss *session) clientToServer(c2s *clientSide, out []byte, taken bool) error {
	h, sc, cs := &c2s.h, &c2s.sc, ss.cs
	if len(out) > 0 {
		if _, err := ss.server.Write(out); err != nil {
			return err
		}
	}
	if taken {
		msg := cs.Buf[cs.R : cs.R+sc.Taken]
		cs.R += sc.Taken
		if err := ss.local.handle(msg); err != nil {
			return err
		}
	}
	for {
		if ss.terminated.Load() {
			// The backend closes after Terminate; the client need not wait
			// for that (a hung backend never would).
			return errTerminated
		}
		if cs.R == cs.W {
			cs.R, cs.W = 0, 0
			n, err := ss.client.Read(cs.Buf)
			if n == 0 && err != nil {
				return err
			}
			cs.W = n
		}
		h.now = 0
		k, err := sc.Feed(cs.Buf[cs.R:cs.W])
		if k > 0 {
			if _, werr := ss.server.Write(cs.Buf[cs.R : cs.R+k]); werr != nil {
				return werr
			}
		}
		cs.R += k
		switch {
		case err == nil:
			cs.R = cs.W
		case err == wire.ErrHold:
			if err := cs.Fill(sc.Need); err != nil {
				if errors.Is(err, wire.ErrMemory) {
					ss.clientErr = err
				}
				return err
			}
		case err == wire.ErrTaken:
			msg := cs.Buf[cs.R : cs.R+sc.Taken]
			cs.R += sc.Taken
			if err := ss.local.handle(msg); err != nil {
				return err
			}
		default:
			ss.clientErr = err
			return err
		}
	}
}

// errTerminated ends a relay after the client's Terminate.
var errTerminated = errors.New("client sent Terminate")

// clientSide is the client-to-backend direction's scanner and handler,
// which an event loop hands over to clientToServer as they stand.
type clientSide struct {
	h  clientHandler
	sc wire.Scanner
}

type clientHandler struct {
	ss    *session
	ctx   context.Context
	now   int64 // time of the current read, taken once per read
	gated bool  // Want admitted the message whose Message is to come
	// loop: the relay runs on an event loop; handoff: the message at hand
	// needs the goroutines (an admission that would wait), and is taken
	// out for them.
	loop, handoff bool
}

// holdLimit is the largest Bind, Describe, Execute or Close held whole to
// decide whether the proxy answers it: larger ones (Binds with big
// parameters) are relayed as they stream by.
const holdLimit = 64 << 10

func (h *clientHandler) Want(typ byte, n int) int {
	if h.handoff {
		// Held whole for the goroutines (admit): asked again as it arrives.
		return wire.WantWhole
	}
	if h.ss.local.refused != nil {
		return wire.WantWhole // held for the refusal, whole (Want runs again as it arrives)
	}
	if !h.gated && h.ss.local.startsBatch(typ) && typ != 'P' {
		// The first message of an extended-protocol batch (a Parse is
		// looked at whole in Message, as it may be the proxy's): admitted
		// here, or the batch is the proxy's to answer with the refusal.
		// The scanner may ask Want twice about one message: gated says
		// it was admitted already.
		h.gated = true
		if h.admit() {
			return wire.WantWhole
		}
	}
	switch {
	case typ == 'Q' || typ == 'P':
		// Whatever their size: a statement that names helios_proxy must
		// never reach a backend, which only the whole text can tell.
		return wire.WantWhole
	case n > holdLimit && !h.ss.local.batch:
		// A batch the proxy takes part in is held whole, so that its
		// messages are answered in order.
		return 0
	}
	switch typ {
	case 'B', 'D', 'E', 'C':
		if h.ss.local.active() || typ == 'B' && h.ss.s.Patterns != nil && h.ss.s.Patterns.Enabled() {
			// A Bind is looked at whole for its statement's pattern.
			return wire.WantWhole
		}
	case 'S', 'H':
		if h.ss.local.batch || typ == 'S' && h.ss.local.pathBatch != nil {
			return wire.WantWhole
		}
	}
	return 0
}

func (h *clientHandler) Message(typ byte, body []byte) bool {
	if h.handoff {
		return true
	}
	h.gated = false
	if h.ss.local.refused != nil {
		return true // refused at admission in Want: answered by the proxy
	}
	first := typ == 'P' && h.ss.local.startsBatch(typ)
	if h.ss.local.answers(typ, body) {
		return true
	}
	if (typ == 'Q' || first) && h.admit() {
		return true
	}
	h.ss.count.client(typ)
	switch typ {
	case 'Q', 'S':
		h.start()
	case 'c', 'f':
		h.ss.copyFromClient(typ)
	case 'X':
		h.ss.terminated.Store(true)
	}
	return false
}

// copyFromClient notes the client's CopyDone or CopyFail (typ 'c' or
// 'f'): the backend's turn again (copyEnds). The 57014 PostgreSQL answers
// a CopyFail with ("COPY from stdin failed") is the client's own doing, as
// after its cancel, not a statement the backend was too slow for.
func (ss *session) copyFromClient(typ byte) {
	if typ == 'f' {
		ss.cancelAt.Store(ss.s.clock.Now().UnixNano())
	}
	ss.copyEnds()
}

// admit admits a relayed request that starts now (admitPassThrough);
// when it is refused, it reports true and the proxy answers the request
// with the refusal (localState.refuse). The request's start time is taken
// after any wait in a queue: that wait is not the backend's latency.
func (h *clientHandler) admit() (refused bool) {
	var e *Error
	if h.loop {
		// An event loop must not wait: a request that would is held whole
		// and taken out untouched, for the goroutines the loop hands the
		// session to (loopRelay.fromClient), which admit it afresh.
		var wait bool
		if e, wait = h.ss.admitNow(); wait {
			h.handoff = true
			return true
		}
	} else {
		e = h.ss.admitPassThrough(h.ctx)
	}
	h.now = 0
	if e == nil {
		return false
	}
	h.ss.local.refuseAtAdmission(e)
	return true
}

// start notes that a relayed request begins now.
func (h *clientHandler) start() {
	if h.now == 0 {
		h.now = h.ss.s.clock.Now().UnixNano()
	}
	h.ss.pending.Push(h.now, h.ss.b.Breaker.Current(), h.ss.local.takeReq())
}

// serverToClient relays backend messages to the client, recording each
// request's latency and outcome at its ReadyForQuery: first out, bytes
// scanned already that an event loop had yet to write, then p, bytes read
// and not yet scanned.
func (ss *session) serverToClient(h *serverHandler, out, p []byte) error {
	defer h.unlock()
	if len(out) > 0 {
		if err := h.write(out); err != nil {
			return err
		}
	}
	for {
		if len(p) == 0 {
			n, err := ss.server.Read(ss.ss.Buf)
			if n == 0 && err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					h.lost = true
				}
				return err
			}
			p = ss.ss.Buf[:n]
		}
		if h.filter.active(ss, &h.sc) {
			if p = h.filter.apply(ss, &ss.count, p); len(p) == 0 {
				h.published()
				continue
			}
		}
		if _, err := h.sc.Feed(p); err != nil {
			h.lost = true
			return err
		}
		if ss.discard.Load() {
			// The answer to the proxy's own abortQuery: the client sent
			// nothing since, so these bytes hold nothing else.
			if h.answered && h.sc.AtBoundary() {
				h.answered = false
				ss.discard.Store(false)
				ss.local.backendIdle()
			}
			h.published()
			p = nil
			continue
		}
		if err := h.write(p); err != nil {
			return err
		}
		p = nil
	}
}

// write relays p, scanned, to the client. It holds the client's write
// lock until a message boundary, so that answers of the proxy itself never
// land inside a message; time spent waiting on a client that does not
// read is not the backend's: it is neither its latency nor a stall.
func (h *serverHandler) write(p []byte) error {
	ss := h.ss
	if !h.locked {
		ss.wmu.Lock()
		h.locked = true
	}
	d, err := ss.clientWrite(p)
	h.blocked += d
	if err != nil {
		h.cut = true
		return err
	}
	if h.sc.AtBoundary() {
		h.unlock()
		if h.answered {
			h.answered = false
			ss.local.backendIdle()
		}
	}
	h.published()
	return nil
}

// flushRecords writes the TLS records a loop left for the client, as
// write would the bytes a loop left: under the client's write lock, kept
// while the message they end in is not whole.
func (h *serverHandler) flushRecords() error {
	pipe := loopPipe(h.ss.client)
	if pipe == nil || !pipe.Pending() {
		return nil
	}
	if !h.locked {
		h.ss.wmu.Lock()
		h.locked = true
	}
	d, err := h.ss.timedClientWrite(pipe.Flush)
	h.blocked += d
	if err != nil {
		h.cut = true
		return err
	}
	if h.sc.AtBoundary() {
		h.unlock()
	}
	return nil
}

// unlock lets go of the client's write lock if write holds it.
func (h *serverHandler) unlock() {
	if h.locked {
		h.locked = false
		h.ss.wmu.Unlock()
	}
}

// published makes the counts of what the backend answered visible to the
// client side once it is written, and wakes the client side if it waits.
func (h *serverHandler) published() {
	c := &h.ss.count
	c.publish()
	if c.waiting.Load() {
		h.ss.local.backendIdle()
	}
}

type serverHandler struct {
	ss   *session
	sc   wire.Scanner
	code string // SQLSTATE of an ErrorResponse in the current request
	// raised: code is that of an error of the client's own doing
	// (wire.CancelledByUser, wire.OwnError: a RAISE …); tailOfCode: the
	// ErrorResponse that gave code has not ended yet, its tail says
	// whether it was raised.
	raised, tailOfCode bool
	fatal              string // SQLSTATE of a FATAL error: the backend is closing the session
	lost               bool   // the backend connection broke
	cut                bool   // a write to the client failed: it may hold part of a message
	answered           bool   // a ReadyForQuery was scanned and not yet written
	locked             bool   // write holds the client's write lock (mid-message)
	filter             dropFilter
	// blocked is the time writes to the client took since the last
	// ReadyForQuery: not the backend's latency.
	blocked time.Duration
	// lp is the event loop relaying the session, nil in the goroutines.
	lp *evloop.Loop
}

func (h *serverHandler) Want(typ byte, _ int) int {
	switch typ {
	case 'E', 'S':
		return 128
	case 'Z':
		return 1
	}
	return 0
}

func (h *serverHandler) Message(typ byte, head []byte) bool {
	h.ss.count.server(typ)
	switch typ {
	case 'E':
		sev, code := wire.ErrorFields(head)
		if h.code == "" {
			h.code, h.tailOfCode = code, true
			h.raised = code == "57014" && wire.CancelledByUser(head)
		}
		if sev == "FATAL" || sev == "PANIC" {
			h.fatal = code
		}
	case 'S':
		h.ss.parameterStatus(head)
	case 'G', 'W':
		h.ss.copyAwaits()
	case 'Z':
		ss := h.ss
		if len(head) == 1 {
			ss.setTxStatus(head[0])
		}
		h.answered = true
		start, t, q, ok := ss.pending.Pop()
		code, raised, held := h.code, h.raised, h.blocked
		h.code, h.raised, h.tailOfCode, h.blocked = "", false, false, 0
		if ok {
			now := ss.s.clock.Now()
			held += ss.copyTime(now.UnixNano())
			ss.b.Finish(t, ss.user(), start, code, raised, ss.cancelAt.Load(), held, q, now)
		}
		if ss.releaseAdmission(ss.b) && h.lp != nil {
			// The request admitted in its place is another session's
			// goroutine, made runnable on the loop's P.
			h.lp.Yield()
		}
	}
	return false
}

// errorTail is told the last bytes of each ErrorResponse (the scanner's
// Tail): those of the one that gave the request's code say whether it is
// the client's own doing.
func (h *serverHandler) errorTail(tail []byte, whole bool) {
	if h.tailOfCode {
		h.tailOfCode = false
		h.raised = h.raised || wire.OwnError(h.code, tail, whole)
	}
}

// setTxStatus notes the transaction status of a ReadyForQuery.
func (ss *session) setTxStatus(st byte) {
	ss.txStatus.Store(uint32(st))
	if st == 'I' {
		ss.idleReady.Add(1)
	}
}

// clientWrite writes p to the client, its write lock held, and returns
// how long that took: time the client held the answer up, which is
// neither the backend's latency nor a stall (clientBlocked, wrote).
func (ss *session) clientWrite(p []byte) (time.Duration, error) {
	return ss.timedClientWrite(func() error { _, err := ss.client.Write(p); return err })
}

// timedClientWrite is clientWrite's accounting around write, a write to
// the client.
func (ss *session) timedClientWrite(write func() error) (time.Duration, error) {
	w0 := ss.s.clock.Now()
	ss.clientBlocked.Store(w0.UnixNano())
	err := write()
	w1 := ss.s.clock.Now()
	ss.wrote.Store(w1.UnixNano())
	ss.clientBlocked.Store(0)
	return max(w1.Sub(w0), 0), err
}

// copyAwaits notes the backend's CopyInResponse or CopyBothResponse: from
// now on it waits for the client.
func (ss *session) copyAwaits() {
	ss.copyWait.Store(ss.s.clock.Now().UnixNano())
}

// copyEnds notes the client's CopyDone or CopyFail: the backend's turn
// again, its time counted from now.
func (ss *session) copyEnds() {
	if w := ss.copyWait.Swap(0); w != 0 {
		now := ss.s.clock.Now().UnixNano()
		ss.copyHeld.Add(max(now-w, 0))
		ss.wrote.Store(now)
	}
}

// copyTime returns the time the request ending at now (unix nanos)
// waited on its client's COPY data, and starts the next one's at zero.
func (ss *session) copyTime(now int64) time.Duration {
	if ss.copyHeld.Load() == 0 && ss.copyWait.Load() == 0 {
		return 0 // no COPY from the client: every request but those
	}
	d := ss.copyHeld.Swap(0)
	if w := ss.copyWait.Swap(0); w != 0 {
		d += max(now-w, 0) // the backend ended the COPY itself (an error)
	}
	return time.Duration(d)
}

// parameterStatus notes the session parameters the proxy's own answers
// depend on, from a ParameterStatus body (possibly cut short).
func (ss *session) parameterStatus(body []byte) {
	name, rest, ok := bytes.Cut(body, []byte{0})
	if !ok {
		return
	}
	var v *atomic.Value
	switch string(name) {
	case "TimeZone":
		v = &ss.timeZone
	case "DateStyle":
		v = &ss.dateStyle
	case "IntervalStyle":
		v = &ss.intervals
	default:
		return
	}
	if value, _, ok := bytes.Cut(rest, []byte{0}); ok {
		v.Store(string(value))
	}
}

// errLoginsBusy is the answer when no login slot frees in time.
func errLoginsBusy(backend string, limit int) *Error {
	return &Error{Code: codeTooManyConns, Message: "sorry, too many clients already",
		Detail: fmt.Sprintf("%d logins to backend %s are in progress (proxy.max_logins_per_backend).", limit, backend),
		Hint:   "Retry the connection."}
}

// errChannelBinding is a pass-through login refused because the client
// wanted channel binding (dial.WantsBinding): the client's doing, not the
// backend's health.
var errChannelBinding = errors.New("the client wants SCRAM channel binding, which cannot pass through the proxy to a backend reached over TLS")
