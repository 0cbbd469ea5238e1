package main

import (
	"errors"
	"net"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/heliosdb/heliosproxy/internal/fastconn"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
)

// The floor relays are the least a Go relay can do: bytes copied between a
// client and its own backend connection by two goroutines, nothing parsed,
// nothing pooled. go-copy reads and writes through net.Conn, go-raw through
// internal/fastconn as HeliosProxy's goroutine relay does, go-epoll on one
// proxy/evloop loop (PgBouncer's design: a locked thread on
// level-triggered epoll, one read and one write per ready socket) as
// HeliosProxy's event-loop relay does. They bound what each design can
// reach on the machine.

// startFloor starts both on loopback in front of backend and returns their
// targets and a function that stops them (sessions end with their clients).
func startFloor(backend string) ([]target, func(), error) {
	var stops []func()
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	var targets []target
	for _, r := range []struct {
		name  string
		serve func(ln net.Listener, backend string)
	}{{"go-copy", serveCopy(false)}, {"go-raw", serveCopy(true)}, {"go-epoll", serveEpoll}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, err
		}
		var wg sync.WaitGroup
		wg.Go(func() { r.serve(ln, backend) })
		stops = append(stops, func() { ln.Close(); wg.Wait() })
		targets = append(targets, target{r.name, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil})
	}
	return targets, stop, nil
}

// pair accepts a client and dials its backend connection.
func pair(ln net.Listener, backend string) (client, server net.Conn, err error) {
	client, err = ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	server, err = net.Dial("tcp", backend)
	if err != nil {
		client.Close()
		return nil, nil, nil
	}
	return client, server, nil
}

// serveCopy relays each session with two goroutines, through fastconn
// when raw.
func serveCopy(raw bool) func(ln net.Listener, backend string) {
	return func(ln net.Listener, backend string) {
		for {
			client, server, err := pair(ln, backend)
			if err != nil {
				return
			}
			if client == nil {
				continue
			}
			if raw {
				client, server = fastconn.Wrap(client), fastconn.Wrap(server)
			}
			relay(client, server)
		}
	}
}

// relay copies both ways until either side ends.
func relay(client, server net.Conn) {
	copyHalf := func(dst, src net.Conn) {
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		client.Close()
		server.Close()
	}
	go copyHalf(server, client)
	go copyHalf(client, server)
}

// serveEpoll relays every session on one event loop.
func serveEpoll(ln net.Listener, backend string) {
	lp, err := evloop.New()
	if err != nil {
		return
	}
	defer lp.Close()
	for {
		client, server, err := pair(ln, backend)
		if err != nil {
			return
		}
		if client == nil {
			continue
		}
		cfd, err1 := evloop.Adopt(client.(*net.TCPConn))
		sfd, err2 := evloop.Adopt(server.(*net.TCPConn))
		if err1 != nil || err2 != nil {
			continue
		}
		h := &epollPair{lp: lp, fds: [2]int{cfd, sfd}}
		lp.Do(func() {
			_ = lp.Add(cfd, evloop.In, h)
			_ = lp.Add(sfd, evloop.In, h)
		})
	}
}

// epollPair copies between a client and its backend socket: what a read
// brings is written to the peer at once, and a peer that does not take it
// all stops reads from the other side until it has.
type epollPair struct {
	lp   *evloop.Loop
	fds  [2]int
	buf  [16 << 10]byte
	out  [2][]byte // pending for fds[i]
	done bool
}

func (p *epollPair) Ready(fd int, ev uint32) {
	i := 0
	if fd == p.fds[1] {
		i = 1
	}
	peer := 1 - i
	if len(p.out[i]) > 0 {
		n, err := evloop.Write(fd, p.out[i])
		if err != nil {
			p.close()
			return
		}
		if p.out[i] = p.out[i][n:]; len(p.out[i]) == 0 {
			_ = p.lp.Modify(fd, evloop.In)
			_ = p.lp.Modify(p.fds[peer], evloop.In)
		}
		return
	}
	n, err := evloop.Read(fd, p.buf[:])
	if errors.Is(err, unix.EAGAIN) {
		return
	}
	if err != nil || n == 0 {
		p.close()
		return
	}
	w, err := evloop.Write(p.fds[peer], p.buf[:n])
	if err != nil {
		p.close()
		return
	}
	if w < n {
		p.out[peer] = append([]byte(nil), p.buf[w:n]...)
		_ = p.lp.Modify(p.fds[peer], evloop.Out)
		_ = p.lp.Modify(fd, 0)
	}
}

func (p *epollPair) close() {
	if p.done {
		return
	}
	p.done = true
	for _, fd := range p.fds {
		p.lp.Remove(fd)
		unix.Close(fd)
	}
}
