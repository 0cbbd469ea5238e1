package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostPolicy decides which Host headers the API answers. A page on another
// site can make the browser send requests to the API by pointing its own
// name at the API's address (DNS rebinding); the browser then takes the
// API's answers for the attacker's origin and lets its script read them.
// Such requests carry the attacker's name in Host, so answering only names
// the operator expects defeats the attack. Requests addressed by IP
// literal cannot be rebound (the origin is the IP itself), nor can
// "localhost" and names under ".localhost", which browsers resolve to
// loopback without asking DNS (RFC 6761).
type hostPolicy struct {
	any      bool            // "*": no check
	names    map[string]bool // lower case, no trailing dot
	suffixes []string        // ".example.com" entries, lower case
}

// newHostPolicy builds the policy from [api] allowed_hosts and the listen
// address: its host is allowed when it is a name.
func newHostPolicy(allowed []string, listenAddress string) hostPolicy {
	p := hostPolicy{names: map[string]bool{"localhost": true}, suffixes: []string{".localhost"}}
	if host, _, err := net.SplitHostPort(listenAddress); err == nil && host != "" {
		p.names[normalHost(host)] = true
	}
	for _, h := range allowed {
		h = normalHost(strings.TrimSpace(h))
		switch {
		case h == "*":
			p.any = true
		case strings.HasPrefix(h, "."):
			// Like vite's server.allowedHosts: ".example.com" is
			// example.com and every name under it.
			p.names[h[1:]] = true
			p.suffixes = append(p.suffixes, h)
		case h != "":
			p.names[h] = true
		}
	}
	return p
}

// allows reports whether the API answers a request whose Host header
// (r.Host: "name", "name:port", "[v6]:port") is hostport.
func (p hostPolicy) allows(hostport string) bool {
	if p.any || hostport == "" {
		// No Host at all is an HTTP/1.0 client, never a browser.
		return true
	}
	host := normalHost(hostport)
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = normalHost(h)
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return true
	}
	if p.names[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// normalHost lower-cases a host name and drops one trailing dot, so that
// "LocalHost." and "localhost" are the same name.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// maxShownHost is how much of a refused Host header goes into the log and
// the answer (a DNS name has at most 253 characters).
const maxShownHost = 256

// checkHost refuses requests for hosts the policy does not allow with 421
// Misdirected Request: this server is not the one the client meant (RFC
// 9110 §15.5.20). A 403 would read like a permission problem, which the
// API already answers for other reasons; 421 tells the operator the
// address is wrong, and tells a rebinding page nothing.
func (s *server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.access.Load().hosts.allows(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		shown := r.Host
		if len(shown) > maxShownHost {
			shown = shown[:maxShownHost] + "..."
		}
		s.log.Warn("api request for a host that is not allowed", "host", shown,
			"method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
		host, _, err := net.SplitHostPort(shown)
		if err != nil {
			host = shown
		}
		s.writeError(w, r, http.StatusMisdirectedRequest,
			fmt.Sprintf("host %q is not served here", shown),
			"address the API by IP address, by localhost, or by a name listed in [api] allowed_hosts",
			fmt.Sprintf("to allow this name, add %q to [api] allowed_hosts", normalHost(host)))
	})
}
