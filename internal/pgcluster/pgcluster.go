// Package pgcluster starts throwaway PostgreSQL clusters from the
// PostgreSQL server binaries: for `heliosproxy demo` (see Start) and, through
// internal/pgtest, for integration tests (see ForTest). It does not import
// package testing, so the production binary does not link it. A cluster is fast and unsafe (fsync off), lives in its own
// directory under the temporary directory and is removed by Destroy. A
// cluster can also be a streaming replica of another (Options.ReplicaOf),
// which can be promoted, paused in its replay and waited for.
//
// PostgreSQL refuses to run as root, so when the caller is root the server
// runs as the postgres user, or nobody if there is none.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotRunning is returned by Pause and Resume when the server is not running.
var ErrNotRunning = errors.New("postgres is not running")

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

const (
	defaultName     = "pg"
	defaultPassword = "postgres-pw"
	superuser       = "postgres"

	startTimeout = 60 * time.Second // initdb and first start, when ctx has no deadline
	readyTimeout = 30 * time.Second // Restart, when ctx has no deadline
	stopTimeout  = 30 * time.Second // then the server is killed
	portAttempts = 5                // when Options.Port is 0
)

// Options says what cluster Start creates. The zero value is a trust cluster
// on a free port.
type Options struct {
	// Name labels the cluster in errors and in its directory name. Empty
	// means "pg".
	Name string
	// Auth is the pg_hba.conf method for TCP connections from 127.0.0.1 and
	// ::1: "trust", "md5" or "scram-sha-256". Empty means "trust". Unix
	// socket connections are always trusted. The superuser password and the
	// passwords of CreateUser are stored as md5 for "md5" and as SCRAM
	// otherwise.
	Auth string
	// Password is the password of the superuser "postgres". Empty means
	// "postgres-pw".
	Password string
	// Port is the TCP port on 127.0.0.1. Zero means a free port, chosen again
	// if another process takes it before the server binds it.
	Port int
	// Settings are extra postgresql.conf settings such as max_connections.
	// They come after pgcluster's own (fsync, synchronous_commit,
	// full_page_writes, wal_level, max_wal_senders, wal_keep_size,
	// password_encryption, and for replicas wal_retrieve_retry_interval)
	// and so override them; port, listen_addresses and
	// unix_socket_directories are fixed on the server's command line.
	Settings map[string]string
	// Log receives the server's log across restarts, written from one
	// goroutine at a time. Nil means the file server.log in the cluster's
	// directory.
	Log io.Writer
	// TLSCertFile and TLSKeyFile are PEM files of the server's certificate
	// and key: given (both or neither), they are copied into the data
	// directory and the server accepts TLS (ssl = on). TLSCAFile, if
	// given, is copied too as ssl_ca_file, the CAs that client
	// certificates must chain to. TLSOnly turns the pg_hba.conf lines for
	// TCP into hostssl lines, so that the server refuses plaintext TCP
	// connections (unix sockets stay trusted); it needs TLSCertFile.
	TLSCertFile, TLSKeyFile, TLSCAFile string
	TLSOnly                            bool
	// ReplicaOf, if not nil, makes the cluster a streaming replica of that
	// running cluster instead of a new one (see Promote, PauseReplay and
	// WaitCaughtUp): its data
	// directory is pg_basebackup -R's copy of the primary's, so it has the
	// primary's roles, passwords, pg_hba.conf, settings and TLS files, and
	// it streams over TCP like any replica, with TLS if the primary has it.
	// Auth, Password and the TLS fields must then be empty; Settings are
	// added to the primary's. An empty Name means the primary's Name with
	// "-replica". Start returns once the replica streams. ReplicaOf may be
	// a replica itself only if the primary has full_page_writes on (a base
	// backup from a replica refuses WAL written with it off).
	ReplicaOf *Cluster
}

// Cluster is a PostgreSQL server with its own data directory. Its exported
// fields describe it and must not be changed. Its methods are safe for
// concurrent use; Stop, StopImmediate, Kill, Restart and Destroy wait for
// each other.
type Cluster struct {
	Name      string
	Host      string // always 127.0.0.1
	Port      int
	User      string // the superuser, "postgres"
	Password  string // the superuser's password
	Auth      string // the method for TCP connections, as in Options
	Dir       string // holds everything below; Destroy removes it
	DataDir   string // the data directory (PGDATA)
	SocketDir string // the unix socket directory, short enough for sun_path
	BinDir    string // where initdb, postgres and usually psql and pgbench are

	cred    *syscall.Credential // nil unless we are root
	tls     bool                // the server accepts TLS, so replicas connect with it
	log     io.Writer           // Options.Log or logFile
	logFile *os.File            // nil when Options.Log was given

	mu        sync.Mutex // serializes the methods that start and stop the server
	destroyed bool
	proc      atomic.Pointer[process] // the last postmaster started; nil before that
}

// Start creates a cluster with initdb, or a replica with pg_basebackup (see
// Options.ReplicaOf), and starts it, returning once it accepts connections
// and a replica streams. If ctx has no deadline Start gives up after a minute.
// On error nothing is left running and the cluster's directory is removed.
// The caller must call Destroy; if the calling process dies first, the
// kernel kills the server (Pdeathsig) but the directory stays. Pdeathsig
// fires when the OS thread that started the server exits, so don't call
// Start or Restart from a goroutine that locks its thread and exits locked.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	o, err = withDefaults(o)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(o.Name, cred)
	if err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", o.Name, err)
	}
	c := &Cluster{
		Name:      o.Name,
		Host:      "127.0.0.1",
		User:      superuser,
		Password:  o.Password,
		Auth:      o.Auth,
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: dir,
		BinDir:    bin,
		cred:      cred,
		tls:       o.TLSCertFile != "",
		log:       o.Log,
	}
	if p := o.ReplicaOf; p != nil {
		c.Host, c.tls = p.Host, p.tls
	}
	defer func() {
		if err != nil {
			_ = c.Destroy() // err already says what went wrong
		}
	}()
	if c.log == nil {
		if c.logFile, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
			return nil, err
		}
		c.log = c.logFile
	}
	if err := c.makeDataDir(ctx, o); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		c.Port = o.Port
		if c.Port == 0 {
			if c.Port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		err = c.start(ctx)
		if err == nil {
			break
		}
		if o.Port != 0 || attempt == portAttempts || !errors.Is(err, errPortInUse) {
			return nil, err
		}
	}
	if o.ReplicaOf != nil {
		// Its password is the primary's, and it is read-only.
		if err := c.waitStreaming(ctx); err != nil {
			return nil, err
		}
		return c, nil
	}
	// initdb stored --pwfile's password with the default encryption (SCRAM
	// since PostgreSQL 14) and has no option to change it, so set it again.
	set := "SET password_encryption = " + quoteLiteral(c.passwordEncryption()) + "; ALTER ROLE " +
		quoteIdent(c.User) + " PASSWORD " + quoteLiteral(c.Password)
	if err := c.Exec(ctx, set); err != nil {
		return nil, fmt.Errorf("set the password of %s on %s: %w", c.User, c.Name, err)
	}
	return c, nil
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func withDefaults(o Options) (Options, error) {
	var errs []error
	if p := o.ReplicaOf; p != nil {
		if o.Auth != "" || o.Password != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" || o.TLSCAFile != "" || o.TLSOnly {
			errs = append(errs, errors.New("replica: a replica has its primary's Auth, Password and TLS files; leave them empty"))
		}
		o.Auth, o.Password = p.Auth, p.Password
		if o.Name == "" {
			o.Name = p.Name + "-replica"
		}
	}
	if o.Name == "" {
		o.Name = defaultName
	}
	if o.Auth == "" {
		o.Auth = "trust"
	}
	if o.Password == "" {
		o.Password = defaultPassword
	}
	switch o.Auth {
	case "trust", "md5", "scram-sha-256":
	default:
		errs = append(errs, fmt.Errorf("auth: want trust, md5 or scram-sha-256, got %q", o.Auth))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: want 0 to 65535, got %d", o.Port))
	}
	for k, v := range o.Settings {
		if !settingName.MatchString(k) {
			errs = append(errs, fmt.Errorf("settings: %q is not a setting name", k))
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			errs = append(errs, fmt.Errorf("settings.%s: value must be one line, got %q", k, v))
		}
	}
	errs = append(errs, checkTLSOptions(o)...)
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("pgcluster options for %s: %w", o.Name, err)
	}
	return o, nil
}

// Credential returns the credential that pgcluster runs servers with: nil when
// the caller is not root, else that of the postgres user, or nobody if there
// is none. Other servers that refuse to run as root, such as PgBouncer, can be
// started with it in exec.Cmd.SysProcAttr.
func Credential() (*syscall.Credential, error) {
	return runAs()
}

// runAs returns the credential to run the server with: nil, or the postgres
// (else nobody) user when we are root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		// With no Groups, exec drops root's supplementary groups too.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("PostgreSQL refuses to run as root, and there is neither a postgres nor a nobody user to run it as")
}

// makeDir creates the cluster's directory, which is also the socket
// directory: the server user must be able to reach it and create files in it,
// and the socket path must fit in sun_path (107 bytes).
func makeDir(name string, cred *syscall.Credential) (string, error) {
	prefix := "heliospg-" + dirName(name) + "-"
	parent := os.TempDir()
	longest := len(parent) + 1 + len(prefix) + len("4294967295") + len("/.s.PGSQL.65535")
	if longest > 107 || (cred != nil && !traversableByAll(parent)) {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", err
	}
	err = os.Chmod(dir, 0o755)
	if err == nil && cred != nil {
		err = os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// dirName makes a cluster name fit for a short directory name.
func dirName(name string) string {
	b := []byte(name)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 20)])
}

// traversableByAll reports whether every directory from dir up to / can be
// searched by any user.
func traversableByAll(dir string) bool {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func (c *Cluster) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: c.cred,
		// Don't outlive a test binary that crashes or times out. Go sets this
		// after changing credentials, which would otherwise clear it.
		Pdeathsig: syscall.SIGKILL,
	}
}

// makeDataDir creates the data directory and configures it: a copy of the
// primary's for a replica, else a new cluster.
func (c *Cluster) makeDataDir(ctx context.Context, o Options) error {
	if err := c.mkdirOwned(c.DataDir, 0o700); err != nil {
		return err
	}
	settings := withTLSSettings(o)
	if o.ReplicaOf != nil {
		if err := c.basebackup(ctx, o.ReplicaOf); err != nil {
			return err
		}
		settings = withReplicaSettings(o)
	} else {
		if err := c.initdb(ctx); err != nil {
			return err
		}
		if err := c.setupTLS(o); err != nil {
			return fmt.Errorf("set up TLS for %s: %w", c.Name, err)
		}
	}
	if err := c.configure(settings); err != nil {
		return fmt.Errorf("configure %s: %w", c.Name, err)
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if c.cred != nil {
		if err := os.Chown(pwfile, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	// initdb's pg_hba.conf also lets the superuser connect for replication
	// over TCP, with --auth-host's method (hostssl with TLSOnly).
	return c.runTool(ctx, nil, "initdb",
		"-D", c.DataDir, "-U", c.User, "--auth-local=trust", "--auth-host="+c.Auth,
		"--pwfile="+pwfile, "-E", "UTF8", "--locale=C", "--no-sync")
}

// runTool runs one of the PostgreSQL programs in BinDir as the server's user,
// in the server's environment plus env, and waits for it.
func (c *Cluster) runTool(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir // our own working directory may be closed to the server user
	cmd.Env = append(c.serverEnv(), env...)
	cmd.SysProcAttr = c.sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s for %s: %w\n%s", name, c.Name, err, out)
	}
	return nil
}

// serverEnv returns our environment without libpq's PG* variables and with
// HOME set to the cluster's directory, for the server and its tools. libpq
// in the server (a replica's WAL receiver) would use those variables, and
// it looks for client certificates under HOME, which may be closed to the
// server's user (libpq then fails) or hold someone else's.
func (c *Cluster) serverEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "HOME=")
	})
	return append(env, "HOME="+c.Dir)
}

func (c *Cluster) mkdirOwned(dir string, perm os.FileMode) error {
	if err := os.Mkdir(dir, perm); err != nil {
		return err
	}
	if c.cred == nil {
		return nil
	}
	return os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid))
}

// configure appends pgcluster's settings and then the caller's to
// postgresql.conf, where the last setting of a name wins. Appending keeps the
// file's owner.
func (c *Cluster) configure(settings map[string]string) error {
	var b strings.Builder
	b.WriteString("\n# pgcluster: a throwaway cluster, fast rather than durable\n")
	b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	// PostgreSQL 15's defaults already allow replicas (Options.ReplicaOf);
	// wal_keep_size lets a stopped replica catch up after a checkpoint.
	b.WriteString("wal_level = replica\nmax_wal_senders = 10\nwal_keep_size = 128MB\n")
	fmt.Fprintf(&b, "password_encryption = %s\n", quoteConf(c.passwordEncryption()))
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "%s = %s\n", k, quoteConf(settings[k]))
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Close())
}

func (c *Cluster) passwordEncryption() string {
	if c.Auth == "md5" {
		return "md5"
	}
	return "scram-sha-256"
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start starts the postmaster on c.Port and waits until it accepts
// connections. On error the postmaster is gone.
func (c *Cluster) start(ctx context.Context) error {
	tail := &tailBuffer{max: 4096, out: c.log}
	cmd := exec.Command(filepath.Join(c.BinDir, "postgres"),
		"-D", c.DataDir, "-p", strconv.Itoa(c.Port), "-k", c.SocketDir,
		"-c", "listen_addresses="+c.Host)
	cmd.Dir = c.Dir
	cmd.Env = c.serverEnv()
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.SysProcAttr = c.sysProcAttr()
	cmd.WaitDelay = 5 * time.Second // in case an orphaned child keeps the log pipe open
	p, err := startProcess(cmd, tail)
	if err != nil {
		return fmt.Errorf("start postgres for %s: %w", c.Name, err)
	}
	c.proc.Store(p)
	if err := c.waitReady(ctx, p); err != nil {
		_ = p.signalAll(syscall.SIGKILL) // ErrNotRunning if it exited by itself
		<-p.done
		return err
	}
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, p *process) error {
	delay := 5 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.ping(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			log := p.tail.String()
			if strings.Contains(log, "could not bind") {
				err = errPortInUse
			}
			return fmt.Errorf("postgres for %s on port %d exited during startup (%w); the server log ends with:\n%s",
				c.Name, c.Port, err, log)
		case <-ctx.Done():
			return fmt.Errorf("postgres for %s on port %d does not accept connections: %w (last attempt: %v); the server log ends with:\n%s",
				c.Name, c.Port, ctx.Err(), err, p.tail)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	_ = conn.Close(ctx) // the server answered, which is all we wanted
	return nil
}

// connect connects as the superuser over the unix socket, which is trusted.
func (c *Cluster) connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	// Settings from PG* environment variables may remain; these can't.
	cfg.Host = c.SocketDir
	cfg.Port = uint16(c.Port)
	cfg.User = c.User
	cfg.Password = ""
	cfg.Database = "postgres"
	cfg.Fallbacks = nil
	return pgconn.ConnectConfig(ctx, cfg)
}

// Addr returns the server's TCP address, "127.0.0.1:port".
func (c *Cluster) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// DSN returns a URL for connecting over TCP without TLS, such as
// postgres://app:secret@127.0.0.1:5432/app?sslmode=disable. An empty password
// is left out; an empty database means the server's default, the user name.
func (c *Cluster) DSN(user, password, database string) string {
	u := url.URL{Scheme: "postgres", Host: c.Addr(), Path: "/" + database, RawQuery: "sslmode=disable"}
	if password == "" {
		u.User = url.User(user)
	} else {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Exec runs sql, which may hold several statements, as the superuser in the
// database postgres, over a new connection through the unix socket.
func (c *Cluster) Exec(ctx context.Context, sql string) error {
	return c.withConn(ctx, func(conn *pgconn.PgConn) error {
		_, err := conn.Exec(ctx, sql).ReadAll()
		return err
	})
}

// withConn calls f with a new connection as the superuser in the database
// postgres through the unix socket, and closes it when f returns.
func (c *Cluster) withConn(ctx context.Context, f func(*pgconn.PgConn) error) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.Name, err)
	}
	defer conn.Close(ctx)
	return f(conn)
}

// CreateUser creates a role that can log in with password, stored with the
// encryption that matches the cluster's Auth. An empty password creates a
// role without one, which can log in only where Auth is trust.
func (c *Cluster) CreateUser(ctx context.Context, name, password string) error {
	sql := "SET password_encryption = " + quoteLiteral(c.passwordEncryption()) + "; CREATE ROLE " + quoteIdent(name) + " LOGIN"
	if password != "" {
		sql += " PASSWORD " + quoteLiteral(password)
	}
	if err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create user %s on %s: %w", name, c.Name, err)
	}
	return nil
}

// Stop shuts the server down like pg_ctl -m fast: it rolls back open
// transactions, disconnects clients and checkpoints. It waits for the
// postmaster to exit and kills it after 30 seconds. Stopping a cluster that
// is not running does nothing; a paused one is resumed first.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop(syscall.SIGINT)
}

// StopImmediate shuts the server down like pg_ctl -m immediate: processes quit
// without a checkpoint, so the next start does crash recovery.
func (c *Cluster) StopImmediate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop(syscall.SIGQUIT)
}

func (c *Cluster) stop(sig syscall.Signal) error {
	p := c.proc.Load()
	if p == nil {
		return nil
	}
	if err := p.signal(sig); err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("stop postgres for %s: %w", c.Name, err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	_ = p.signalAll(syscall.SIGKILL) // ErrNotRunning if it exited meanwhile
	<-p.done
	return fmt.Errorf("postgres for %s did not stop within %v of %v, so it was killed", c.Name, stopTimeout, sig)
}

// Kill simulates a crash: it kills the postmaster and all its children with
// SIGKILL, paused or not, and returns once the postmaster is reaped. Killing a
// cluster that is not running does nothing.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proc.Load()
	if p == nil {
		return nil
	}
	if err := p.signalAll(syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("kill postgres for %s: %w", c.Name, err)
	}
	<-p.done
	return nil
}

// Pause simulates a hung server by stopping the postmaster and all its
// children with SIGSTOP. Connections and new connection attempts hang (the
// kernel still completes TCP handshakes) until Resume. Stop, Kill and Destroy
// work on a paused cluster.
func (c *Cluster) Pause() error {
	return c.signalAll(syscall.SIGSTOP)
}

// Resume continues a paused cluster.
func (c *Cluster) Resume() error {
	return c.signalAll(syscall.SIGCONT)
}

func (c *Cluster) signalAll(sig syscall.Signal) error {
	p := c.proc.Load()
	if p == nil {
		return ErrNotRunning
	}
	if err := p.signalAll(sig); err != nil {
		return fmt.Errorf("signal postgres for %s with %v: %w", c.Name, sig, err)
	}
	return nil
}

// Restart starts the server again on the same data directory and port after
// Stop, StopImmediate or Kill, and waits until it accepts connections (after
// a Kill or StopImmediate that includes crash recovery). If ctx has no
// deadline Restart gives up after 30 seconds. It fails if the server is
// running or another process has taken the port.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return fmt.Errorf("restart %s: cluster destroyed", c.Name)
	}
	p := c.proc.Load()
	if p == nil {
		return fmt.Errorf("restart %s: never started", c.Name)
	}
	if p.running() {
		return fmt.Errorf("restart %s: postgres is running", c.Name)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	// After a kill, the lock files still name the dead postmaster. The
	// server ignores them only if that pid is unused, and pids are reused
	// quickly where pid_max is small. We reaped that postmaster and killed
	// its children, so the files are stale.
	for _, lock := range []string{
		filepath.Join(c.DataDir, "postmaster.pid"),
		filepath.Join(c.SocketDir, ".s.PGSQL."+strconv.Itoa(c.Port)+".lock"),
	} {
		removeIfOwnedBy(lock, p.pid)
	}
	return c.start(ctx)
}

// removeIfOwnedBy removes a PostgreSQL lock file whose first line is pid.
func removeIfOwnedBy(path string, pid int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(first) == strconv.Itoa(pid) {
		_ = os.Remove(path) // if it stays, the server's error says so
	}
}

// Running reports whether the postmaster is alive, paused or not.
func (c *Cluster) Running() bool {
	p := c.proc.Load()
	return p != nil && p.running()
}

// Destroy shuts the server down immediately if it is running and removes the
// cluster's directory. Calling it again does nothing.
func (c *Cluster) Destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	c.destroyed = true
	errs := []error{c.stop(syscall.SIGQUIT)}
	if c.logFile != nil {
		errs = append(errs, c.logFile.Close())
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.Dir, err))
	}
	return errors.Join(errs...)
}

// quoteLiteral quotes s as an SQL string literal, for
// standard_conforming_strings on (the default).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteConf quotes s as a postgresql.conf value, where backslashes escape.
func quoteConf(s string) string {
	return quoteLiteral(strings.ReplaceAll(s, `\`, `\\`))
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// tailBuffer passes what is written to it on to out and keeps the last max
// bytes for error messages. A failing out does not stop it, so that the
// server never sees its log pipe closed.
type tailBuffer struct {
	out io.Writer
	max int

	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	_, _ = t.out.Write(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String returns the kept bytes from the first whole line on.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
