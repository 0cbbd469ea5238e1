package loopback

import "testing"

func TestHostPort(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:1", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"proxy.example.com:8080", false},
		{"127.0.0.1", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := HostPort(tt.addr); got != tt.want {
			t.Errorf("HostPort(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
