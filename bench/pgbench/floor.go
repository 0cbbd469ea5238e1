package main

import (
	"net"
	"strconv"
	"sync"

	"github.com/heliosdb/heliosproxy/internal/fastconn"
)

// The floor relays are the least a Go relay can do: bytes copied between a
// client and its own backend connection by two goroutines, nothing parsed,
// nothing pooled. go-copy reads and writes through net.Conn, go-raw through
// internal/fastconn as HeliosProxy does. They bound what HeliosProxy's
// design can reach on the machine. (A third, PgBouncer's design in Go, one
// locked thread on level-triggered epoll, measured no better than go-copy:
// 5.7k against 5.9k TPS at -S -c 1; its wait in epoll_wait is a system
// call like any other.)

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
	}{{"go-copy", serveCopy(false)}, {"go-raw", serveCopy(true)}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, err
		}
		var wg sync.WaitGroup
		wg.Go(func() { r.serve(ln, backend) })
		stops = append(stops, func() { ln.Close(); wg.Wait() })
		targets = append(targets, target{r.name, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)})
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
