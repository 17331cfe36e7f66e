package report

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumProbe goes into a copy of the report, before its content
// security policy (which forbids scripts) takes effect: it records errors,
// failed loads, policy violations and console errors, and once the page
// has loaded it writes them and the rendered size of every chart into the
// DOM, which --dump-dom prints (and updates it on any later error: a
// policy violation may be reported after the load event).
const chromiumProbe = `<script>
(function () {
  var errors = [], out = null;
  function flush() {
    if (!out) return;
    var charts = Array.prototype.map.call(document.querySelectorAll('figure[data-chart] svg.chart'), function (s) {
      var r = s.getBoundingClientRect();
      return {id: s.id, width: Math.round(r.width), height: Math.round(r.height), texts: s.querySelectorAll('text').length, paths: s.querySelectorAll('path').length};
    });
    out.textContent = JSON.stringify({errors: errors, charts: charts});
  }
  function record(msg) { errors.push(msg); flush(); }
  window.addEventListener('error', function (e) {
    var t = e.target || {};
    record('error: ' + (e.message || t.src || t.href || t.tagName || 'unknown'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { record('rejection: ' + e.reason); });
  document.addEventListener('securitypolicyviolation', function (e) {
    record('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
  });
  var ce = console.error;
  console.error = function () { record('console: ' + Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); };
  window.addEventListener('load', function () {
    out = document.createElement('pre');
    out.id = 'portex-probe';
    document.body.appendChild(out);
    flush();
  });
})();
</script>`

// chromium finds the browser, or skips; under PORTEX_CI=1 a missing
// browser fails the test (.ci/run installs Debian's chromium). The fast
// tier (go test -short) skips it: a browser takes seconds to start.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs chromium, seconds to start (full tier: go test ./...)")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("PORTEX_CI") == "1" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium fonts-liberation): the HTML report is not checked in a browser")
	return ""
}

type probeResult struct {
	Errors []string `json:"errors"`
	Charts []struct {
		ID     string `json:"id"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Texts  int    `json:"texts"`
		Paths  int    `json:"paths"`
	} `json:"charts"`
}

// The HTML report opens in headless Chromium without a console error or
// a blocked load, and every chart is drawn at a real size, with its axes'
// labels.
func TestHTMLInChromium(t *testing.T) {
	browser := chromium(t)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fixture(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	wantCharts := strings.Count(page, "<svg ")
	got, stderr := openInChromium(t, browser, page)
	// Console messages of the page reach the log as CONSOLE lines; the
	// report writes none.
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "CONSOLE") && strings.Contains(line, "report.html") {
			t.Errorf("console: %s", line)
		}
	}
	for _, e := range got.Errors {
		t.Errorf("in the page: %s", e)
	}
	if len(got.Charts) != wantCharts || wantCharts == 0 {
		t.Fatalf("%d charts rendered, want %d", len(got.Charts), wantCharts)
	}
	for _, c := range got.Charts {
		if c.Width < 400 || c.Height < 100 || c.Texts < 4 || c.Paths < 3 {
			t.Errorf("chart %s rendered %dx%d px with %d texts and %d paths", c.ID, c.Width, c.Height, c.Texts, c.Paths)
		}
	}
}

// The probe sees what it looks for: a page that loads from the network,
// or runs a script, is caught by the report's policy and reported.
func TestChromiumProbeSeesViolations(t *testing.T) {
	browser := chromium(t)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fixture(t)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(buf.String(), "</main>",
		`<img src="https://example.invalid/logo.png" alt=""><script>console.error("boom")</script></main>`, 1)
	got, _ := openInChromium(t, browser, bad)
	all := strings.Join(got.Errors, "\n")
	if !strings.Contains(all, "img-src") || !strings.Contains(all, "script-src") {
		t.Errorf("the probe missed a blocked image or script; it saw:\n%s", all)
	}
}

// openInChromium writes the page with the probe into a temporary folder,
// has headless Chromium load it and dump its DOM, and returns what the
// probe found and the browser's log.
func openInChromium(t *testing.T, browser, page string) (probeResult, string) {
	t.Helper()
	probed := strings.Replace(page, "<head>", "<head>\n"+chromiumProbe, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte(probed), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0", "--window-size=1280,2000",
		"--virtual-time-budget=2000", "--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="portex-probe">(.*?)</pre>`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("the probe did not run; DOM:\n%.2000s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	var got probeResult
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("probe output %q: %v", m[1], err)
	}
	return got, stderr.String()
}
