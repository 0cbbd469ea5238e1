package backend

import "testing"

func TestWaitingFactor(t *testing.T) {
	tests := []struct {
		waiting, clients int64
		want             float64
	}{
		{-1, 10, 1}, // not collected
		{0, 10, 1},
		{5, 10, 0.75},
		{10, 10, 0.5},
		{20, 10, 0.5}, // at most halved
		{1, 0, 0.5},
	}
	for _, tt := range tests {
		if got := WaitingFactor(tt.waiting, tt.clients); got != tt.want {
			t.Errorf("WaitingFactor(%d waiting, %d clients) = %v, want %v", tt.waiting, tt.clients, got, tt.want)
		}
	}
}
