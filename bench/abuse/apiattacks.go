package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// badTokens is how many requests with a wrong admin token api-ratelimit
// sends before the right one.
const badTokens = 40

// apiHost asks for the status with a Host header naming another site, as
// a DNS-rebinding page would make a browser do: it wants a 4xx.
func apiHost(ctx context.Context, e *env) outcome {
	if e.api == "" {
		return skipf("needs -api")
	}
	code, _, err := e.request(ctx, http.MethodGet, "/circuit-breaker/status", func(r *http.Request) { r.Host = "evil.example" }, "")
	if err != nil {
		return failf("GET /circuit-breaker/status: %v", err)
	}
	return judge(code >= 400 && code < 500, "Host: evil.example answered %d, want 4xx", code).with("status", code)
}

// apiRateLimit sends badTokens override requests with wrong tokens, then
// one with the right token: the operator must not be locked out (429) by
// someone else's guessing. Every body is invalid on purpose, so that the
// right token's request changes nothing (it answers 400).
func apiRateLimit(ctx context.Context, e *env) outcome {
	switch {
	case e.api == "":
		return skipf("needs -api")
	case e.token == "":
		return skipf("needs -token (the API's admin token)")
	}
	backend := "abuse-none"
	if cs, err := e.circuits(ctx); err == nil && len(cs) > 0 {
		backend = cs[0].Name
	}
	path := "/circuit-breaker/backends/" + url.PathEscape(backend) + "/override"
	const body = `{"state":"abuse-invalid","reason":"helios abuse suite: an invalid request"}`
	put := func(token string) (int, error) {
		code, _, err := e.request(ctx, http.MethodPut, path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, body)
		return code, err
	}
	bad := make(map[string]int)
	for i := range badTokens {
		code, err := put(fmt.Sprintf("wrong-token-%d", i))
		if err != nil {
			return failf("PUT %s with a wrong token: %v", path, err)
		}
		bad[fmt.Sprintf("HTTP %d", code)]++
	}
	code, err := put(e.token)
	if err != nil {
		return failf("PUT %s with the right token: %v", path, err)
	}
	ok := code != http.StatusTooManyRequests && code != http.StatusUnauthorized && code != http.StatusForbidden
	return judge(ok, "%d wrong tokens: %s; then the right token: %d", badTokens, tally(bad), code).
		with("wrong_token_status", bad, "right_token_status", code)
}
