// Package web is the operator dashboard: static files embedded in the binary
// (index.html, app.js, style.css; no build step, no external resources) that
// show the circuit of every backend and drive overrides and config reloads
// through the REST API of package api. The page talks to the API only, with
// relative URLs, so it must be served from the API's origin: at "/" or under
// a prefix removed with http.StripPrefix.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy allows only this origin: the page has no inline
// script or style and loads nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// assets maps a request path ("/", "/app.js") to its file.
var assets = load()

func load() map[string]asset {
	m := make(map[string]asset)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		m["/"+name] = asset{name: name, body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: reading embedded files: " + err.Error()) // cannot happen: embed.FS is fixed at build time
	}
	m["/"] = m["/index.html"]
	return m
}

// Handler serves the dashboard: the page at "/" (and "/index.html") and its
// files, for GET and HEAD. Other paths get 404 and other methods 405. Files
// carry an ETag and "Cache-Control: no-cache", so browsers revalidate and a
// new binary's page is picked up at once, and a Content-Security-Policy that
// limits the page to its own origin.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	a, ok := assets[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
