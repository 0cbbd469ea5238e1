package breaker

// Current returns a non-probe ticket of the current generation without
// admitting anything: for requests inside an already admitted session, so
// that their results are tied to the state they started in.
// It takes no lock: it is called once per relayed request.
func (b *Breaker) Current() Ticket {
	return Ticket{gen: b.gen.Load()}
}
