// Package loopback tells loopback listen addresses, by one rule for config
// validation and the API: "localhost" or a loopback IP.
package loopback

import (
	"net"
	"strings"
)

// HostPort reports whether addr ("host:port") names a loopback host.
func HostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
