package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// malformedDescribe sends a Describe and a Close with an empty body (no
// object type, no name) on a helios_proxy session, each followed by a
// Sync: it wants 08P01 and ReadyForQuery for each, and the session still
// answering a status query afterwards.
func malformedDescribe(ctx context.Context, e *env) outcome {
	ctx, cancel := context.WithTimeout(ctx, bombTimeout)
	defer cancel()
	s, err := e.login(ctx, statusDatabase, nil)
	if err != nil {
		return failf("connect to %s: %v", statusDatabase, err)
	}
	defer s.Close()
	var seen []string
	ok := true
	for _, m := range []struct {
		name string
		typ  byte
	}{{"Describe", 'D'}, {"Close", 'C'}} {
		sync, _ := (&pgproto3.Sync{}).Encode(nil)
		if _, err := s.conn.Write(append(frame(m.typ, nil), sync...)); err != nil {
			return failf("%s: write: %s", m.name, closed(err))
		}
		got, err := s.untilReady(replyTimeout)
		if err != nil {
			return failf("%s with an empty body: %v", m.name, err)
		}
		ok = ok && slices.Equal(got, []string{"E 08P01", "Z"})
		seen = append(seen, fmt.Sprintf("%s: %s", m.name, strings.Join(got, " ")))
	}
	if err := s.usable(); err != nil {
		return failf("%s; then the session broke: %v", strings.Join(seen, ", "), err)
	}
	return judge(ok, "%s; session usable", strings.Join(seen, ", "))
}
