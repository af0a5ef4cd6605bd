// Package pages renders the console's HTML: embedded Go templates, CSS and one small script.
// Handlers hand it view models; it never talks to the API server.
package pages

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/console/wizard"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Static serves the CSS and the script.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

// Flash is the outcome of the last action, shown once.
type Flash struct {
	Kind    string // ok or error
	Message string
}

// Page is what every page shows around its content.
type Page struct {
	Title string
	User  string
	CSRF  string
	Flash *Flash
	// Live is the event stream URL the page follows; empty for pages that do not.
	Live string
	// Content is the page's view model.
	Content any
}

var funcs = template.FuncMap{
	"ago":       Ago,
	"duration":  Duration,
	"query":     func(v url.Values) string { return v.Encode() },
	"join":      strings.Join,
	"lower":     strings.ToLower,
	"add":       func(a, b int) int { return a + b },
	"deref":     func(p *int32) int32 { return *p },
	"derefb":    func(p *bool) bool { return *p },
	"derefs":    func(p *string) string { return *p },
	"list":      func(v ...string) []string { return v },
	"rows":      RowsHTML,
	"backquery": backQuery,
	"mib":       func(b int64) string { return fmt.Sprintf("%d MiB", b>>20) },
	"timefmt": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}

var (
	parseOnce sync.Once
	parsed    *template.Template
)

func templates() *template.Template {
	parseOnce.Do(func() {
		parsed = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	})
	return parsed
}

// Render writes page with the content template name.
func Render(w http.ResponseWriter, status int, name string, p Page) {
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	t := templates()
	if err := t.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// Fragment renders one named template alone: the pieces the live stream sends.
func Fragment(w io.Writer, name string, data any) error {
	return templates().ExecuteTemplate(w, name, data)
}

// backQuery is the query string of the step before step, with every answer kept.
func backQuery(f wizard.Form, step int) string {
	v := url.Values{}
	for _, field := range f.Values() {
		if field.Value != "" {
			v.Add(field.Name, field.Value)
		}
	}
	v.Set("step", strconv.Itoa(step-1))
	return v.Encode()
}

// Ago says how long ago t was, briefly (kubectl's style).
func Ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return Duration(time.Since(t))
}

// Duration prints d as kubectl prints ages: 45s, 3m12s, 2h5m, 4d3h.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
