package config

import (
	"reflect"
	"testing"
)

func TestAllowTrustPassThrough(t *testing.T) {
	c, ws, err := Parse("f.toml", []byte(oneBackend))
	if err != nil || len(ws) != 0 {
		t.Fatalf("Parse = %v, warnings %v", err, ws)
	}
	if c.Backends.Instances[0].AllowTrustPassThrough {
		t.Error("allow_trust_pass_through defaults to true, want false")
	}
	c, ws, err = Parse("f.toml", []byte(oneBackend+"allow_trust_pass_through = true\n"))
	if err != nil || len(ws) != 0 {
		t.Fatalf("Parse = %v, warnings %v", err, ws)
	}
	if !c.Backends.Instances[0].AllowTrustPassThrough {
		t.Error("allow_trust_pass_through = true not read")
	}
	out, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("encoded.toml", out)
	if err != nil || !reflect.DeepEqual(back.Backends, c.Backends) {
		t.Errorf("Parse(Encode()) backends = %+v, %v; want %+v", back.Backends, err, c.Backends)
	}
	_, _, err = Parse("f.toml", []byte(oneBackend+"allow_trust_pass_through = \"yes\"\n"))
	sameStrings(t, "errors", messages(err), []string{
		"f.toml:4: backends.instances[0].allow_trust_pass_through: want a boolean (true or false), got a string",
	})
}
