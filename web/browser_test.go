package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPackage is the Debian package that provides the browser; make
// deps (scripts/ensure-deps.sh) installs it.
const chromiumPackage = "chromium"

// chromiumPath finds Debian's chromium, failing the test (not skipping it)
// when it is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const debian = "/usr/bin/chromium"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("%s not found: the browser tests need the Debian package %q "+
		"(run `make deps` as root, or `apt-get install -y %s`)", debian, chromiumPackage, chromiumPackage)
	return ""
}

// browser is one headless Chromium tab for a test. Uncaught JavaScript
// exceptions in the page fail the test.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; no deadline, it bounds the browser's life

	mu         sync.Mutex
	exceptions []string
	console    []string
}

// newBrowser starts Chromium with a fresh profile and stops it when the test
// ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		// Chromium refuses to run as root with its sandbox, and containers
		// often lack the namespaces it needs; the page is our own.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.console {
			t.Logf("browser console: %s", m)
		}
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	// The first action starts the browser, whose life is bound to the
	// context of that action: it must have no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	b.ctx = ctx
	return b
}

// listen runs on chromedp's reading goroutine: it only records.
func (b *browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.mu.Lock()
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
		b.mu.Unlock()
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
		}
		b.mu.Lock()
		b.console = append(b.console, string(ev.Type)+": "+strings.Join(parts, " "))
		b.mu.Unlock()
	}
}

// within runs steps with a timeout, failing the test with what when they
// don't finish in time.
func (b *browser) within(d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not within %v", d)
		}
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open loads url and waits for the dashboard's first render.
func (b *browser) open(url string) {
	b.t.Helper()
	b.within(30*time.Second, "load the dashboard",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="1"]`)),
	)
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text returns the text of the first element that matches css.
func (b *browser) text(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

// setInput sets the value of the input that matches css as if the user
// had replaced it (chromedp.Clear only resets the value attribute, which
// does not clear what was typed).
func setInput(css, value string) chromedp.Action[chromedp.Void] {
	sel, _ := json.Marshal(css)
	val, _ := json.Marshal(value)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		e.value = %s;
		e.dispatchEvent(new Event('input', {bubbles: true}));
	})()`, sel, val))
}

// artifactDir is where browser tests save screenshots: $HELIOS_ARTIFACTS/web
// when that is set (CI collects it), else web/testdata/artifacts, which git
// ignores. Files there are overwritten by the next run.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "artifacts")
	if root := os.Getenv("HELIOS_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, "web")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return dir
}

// screenshot saves a full-page PNG of the tab as name in the artifact
// directory and logs its path.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(path, png, fs.FileMode(0o644)); err != nil {
		b.t.Errorf("save screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}
