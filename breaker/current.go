package breaker

// Current returns a non-probe ticket of the current generation without
// admitting anything: for requests inside an already admitted session, so
// that their results are tied to the state they started in.
func (b *Breaker) Current() Ticket {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Ticket{gen: b.gen}
}
