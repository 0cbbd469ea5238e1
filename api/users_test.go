package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestUsers: GET /users lists the roles and overrides; PUT and DELETE
// /users/{role}/{database}/override set and clear one, with precise 400s
// (every response checked against openapi.yaml by the harness).
func TestUsers(t *testing.T) {
	f := newFakeProxy()
	f.users = []status.UserBreaker{
		{Role: "app", Database: "shop", State: status.Closed, RateLimit: 1000, RequestsTotal: 10},
		{Role: "batch", Database: "shop", State: status.Open, StateSince: t0, OpenReason: "error_rate", OpenDetail: "error rate 40% > 5%", ThrottledTotal: 3, FailuresTotal: 8},
	}
	h := newHarness(t, f, Options{AdminToken: testToken, Clock: func() time.Time { return t0 }})
	var got struct {
		Users     []map[string]any `json:"users"`
		Overrides []map[string]any `json:"overrides"`
	}
	resp, b := h.do(req{method: "GET", path: "/users"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Users) != 2 {
		t.Fatalf("GET /users = %d %s, want two roles", resp.StatusCode, b)
	}
	if u := got.Users[1]; u["state"] != "OPEN" || u["open_reason"] != "error_rate" || u["throttled_total"] != 3.0 {
		t.Errorf("users[1] = %v", u)
	}
	if u := got.Users[0]; u["open_reason"] != nil || u["state_since"] != nil {
		t.Errorf("users[0] = %v, want null open_reason and state_since", u)
	}

	resp, b = h.do(req{method: "PUT", path: "/users/batch/shop/override", body: `{"rate_limit":5,"reason":"nightly import"}`})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"rate_limit":5`) {
		t.Errorf("PUT override = %d %s, want 200 with the rate limit", resp.StatusCode, b)
	}
	resp, b = h.do(req{method: "GET", path: "/users"})
	if err := json.Unmarshal(b, &got); err != nil || len(got.Overrides) != 1 || got.Overrides[0]["role"] != "batch" {
		t.Errorf("GET /users after PUT = %s, want batch's override", b)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"reason":"x"}`, "exempt or rate_limit"},
		{`{"exempt":false,"rate_limit":-1,"reason":"x"}`, "rate_limit: must not be negative"},
		{`{"exempt":true}`, "reason: required"},
		{`{"rate_limit":1.5,"reason":"x"}`, "rate_limit: must be an integer, got number 1.5"},
		{`{"rate_limit":1e12,"reason":"x"}`, "rate_limit: must be an integer, got number 1e12"},
		{`{"rate_limit":"5","reason":"x"}`, "rate_limit: must be an integer, got string"},
		{`{"exempt":"yes","reason":"x"}`, "exempt: must be a boolean, got string"},
	} {
		resp, b := h.do(req{method: "PUT", path: "/users/batch/shop/override", body: tt.body})
		if resp.StatusCode != 400 || !strings.Contains(string(b), tt.want) {
			t.Errorf("PUT %s = %d %s, want 400 saying %q", tt.body, resp.StatusCode, b, tt.want)
		}
	}
	if resp, b := h.do(req{method: "DELETE", path: "/users/batch/shop/override"}); resp.StatusCode != 204 {
		t.Errorf("DELETE override = %d %s, want 204", resp.StatusCode, b)
	}
	if resp, b := h.do(req{method: "DELETE", path: "/users/batch/shop/override", header: map[string]string{AuthorHeader: strings.Repeat("a", 101)}}); resp.StatusCode != 400 {
		t.Errorf("DELETE with a bad author = %d %s, want 400", resp.StatusCode, b)
	}
}

// TestUsersNotServed: without a UserController the roles' endpoints
// answer 501; a stuck one times out with 503.
func TestUsersNotServed(t *testing.T) {
	h := newHarness(t, blindProxy{newFakeProxy()}, Options{AdminToken: testToken})
	for _, r := range []req{{method: "GET", path: "/users"}, mutations[4], mutations[5]} {
		if resp, b := h.do(r); resp.StatusCode != 501 {
			t.Errorf("%s %s without roles = %d %s, want 501", r.method, r.path, resp.StatusCode, b)
		}
	}
	f := newFakeProxy()
	f.block = true
	stuck := newHarness(t, f, Options{AdminToken: testToken}, func(s *server) { s.timeout = 100 * time.Millisecond })
	for _, r := range mutations[4:6] {
		if resp, b := stuck.do(r); resp.StatusCode != 503 {
			t.Errorf("%s %s on a stuck proxy = %d %s, want 503", r.method, r.path, resp.StatusCode, b)
		}
	}
}

// blindProxy is a Controller that is no UserController.
type blindProxy struct{ Controller }
