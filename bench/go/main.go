// bench-go: Go's net/http client under the same method and output as bench-client (Rust).
//
//	bench-go --url URL [--concurrency N] [--duration SECS | --requests N] [--h2] [--new-conn]
//	         [--cacert PEM] [--body-len BYTES] [--warmup SECS] [--warmup-requests N]
//	         [--traced] [--scenario NAME] [--rep N] [--turns N]
//
// --traced attaches an httptrace.ClientTrace with all 16 hooks, each storing a timestamp into a
// per-worker slot. The process is pinned to one core by bench/run, so GOMAXPROCS is 1.
// Stdlib only; builds offline with `go build`.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const nb = 64 + 42*32

type hist [nb]uint64

func hidx(v uint64) int {
	if v < 64 {
		return int(v)
	}
	e := 63 - bits.LeadingZeros64(v)
	m := int((v >> (e - 5)) & 31)
	i := 64 + (e-6)*32 + m
	if i >= nb {
		i = nb - 1
	}
	return i
}

func hval(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 6
	m := uint64((i - 64) % 32)
	return ((32 + m) << (e - 5)) + ((uint64(1) << (e - 5)) / 2)
}

func (h *hist) quantileUs(q float64) float64 {
	var total uint64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	if want < 1 {
		want = 1
	}
	if want > total {
		want = total
	}
	var acc uint64
	for i, c := range h {
		acc += c
		if acc >= want {
			return float64(hval(i)) / 1000
		}
	}
	return 0
}

type worker struct {
	slots    [16]atomic.Uint64
	trace    *httptrace.ClientTrace
	h        hist
	ok       uint64
	errors   uint64
	firstErr string
	buf      []byte // the body copy buffer, allocated once (a phase runs once a turn)
}

func fullTrace(w *worker, base time.Time) *httptrace.ClientTrace {
	st := func(i int) { w.slots[i].Store(uint64(time.Since(base).Nanoseconds())) }
	return &httptrace.ClientTrace{
		GetConn:              func(string) { st(0) },
		GotConn:              func(httptrace.GotConnInfo) { st(1) },
		PutIdleConn:          func(error) { st(2) },
		GotFirstResponseByte: func() { st(3) },
		Got100Continue:       func() { st(4) },
		Got1xxResponse:       func(int, textproto.MIMEHeader) error { st(5); return nil },
		DNSStart:             func(httptrace.DNSStartInfo) { st(6) },
		DNSDone:              func(httptrace.DNSDoneInfo) { st(7) },
		ConnectStart:         func(string, string) { st(8) },
		ConnectDone:          func(string, string, error) { st(9) },
		TLSHandshakeStart:    func() { st(10) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { st(11) },
		WroteHeaderField:     func(string, []string) { st(12) },
		WroteHeaders:         func() { st(13) },
		Wait100Continue:      func() { st(14) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { st(15) },
	}
}

type stop struct {
	deadline time.Time // zero: none
	budget   *atomic.Int64
}

func (s *stop) goOn(now time.Time) bool {
	if !s.deadline.IsZero() && !now.Before(s.deadline) {
		return false
	}
	if s.budget != nil {
		return s.budget.Add(-1) >= 0
	}
	return true
}

func one(c *http.Client, url string, w *worker, ctx context.Context, buf []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	resp.Body.Close()
	if err != nil {
		return n, err
	}
	if resp.StatusCode != 200 {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, nil
}

func phase(c *http.Client, url string, ws []*worker, ctxs []context.Context, s *stop, expect int64) {
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func(w *worker, ctx context.Context) {
			defer wg.Done()
			if w.buf == nil {
				w.buf = make([]byte, 32*1024)
			}
			buf := w.buf
			now := time.Now()
			for s.goOn(now) {
				n, err := one(c, url, w, ctx, buf)
				end := time.Now()
				if err == nil && n == expect {
					w.ok++
					w.h[hidx(uint64(end.Sub(now).Nanoseconds()))]++
				} else {
					w.errors++
					if w.firstErr == "" {
						if err != nil {
							w.firstErr = err.Error()
						} else {
							w.firstErr = fmt.Sprintf("body length %d, expected %d", n, expect)
						}
					}
					if err != nil {
						time.Sleep(time.Millisecond)
					}
				}
				now = end
			}
		}(w, ctxs[i])
	}
	wg.Wait()
}

func rusage() syscall.Rusage {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// Turn-taking with bench-util turns (--turns), as bench-client does it: a "ready" line on stdout
// ends a step, a line on stdin starts the next; a closed stdin ends the process.
var turnIn = bufio.NewReader(os.Stdin)

func turnDone() {
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		os.Exit(1)
	}
}

func nextTurn() {
	turnDone()
	waitTurn()
}

func waitTurn() {
	if _, err := turnIn.ReadString('\n'); err != nil {
		os.Exit(1)
	}
}

func main() {
	url := flag.String("url", "", "URL")
	conc := flag.Int("concurrency", 1, "concurrent workers")
	dur := flag.Float64("duration", 0, "measured seconds (default 3 unless --requests)")
	reqs := flag.Int64("requests", 0, "measured requests")
	h2 := flag.Bool("h2", false, "HTTP/2 over TLS")
	newConn := flag.Bool("new-conn", false, "a new connection per request")
	cacert := flag.String("cacert", "", "CA PEM")
	bodyLen := flag.Int64("body-len", -1, "expected body length")
	warmup := flag.Float64("warmup", 1, "warm-up seconds (max)")
	warmupReqs := flag.Int64("warmup-requests", 1000, "warm-up requests (max)")
	traced := flag.Bool("traced", false, "attach a trace with all 16 hooks")
	scenario := flag.String("scenario", "", "label")
	rep := flag.Int("rep", 0, "label")
	turns := flag.Int("turns", 0, "take turns with other clients: the measured window in N slices")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "bench-go: --url is required")
		os.Exit(2)
	}
	if *dur == 0 && *reqs == 0 {
		*dur = 3
	}
	if *conc < 1 {
		*conc = 1
	}
	if *turns > 0 && *dur == 0 {
		fmt.Fprintln(os.Stderr, "bench-go: --turns needs --duration")
		os.Exit(2)
	}
	if *turns > 0 {
		nextTurn()
	}

	tlsCfg := &tls.Config{
		// Go resumes TLS sessions only with a cache; rustls (all Rust clients here) has one by
		// default, so give Go one too: the TLS new-connection scenario compares like with like.
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-go:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsCfg.RootCAs = pool
	}
	idle := *conc
	if *newConn {
		// No idle connection kept, as the Rust clients are configured (DisableKeepAlives would
		// also send "Connection: close" and the server would close first): the client closes
		// each connection after its response.
		idle = -1
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: idle,
		MaxIdleConns:        *conc + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // the Rust clients ask for no compression either
		ForceAttemptHTTP2:   *h2,
	}
	if !*h2 {
		// HTTP/1.1 only: a non-nil empty map turns off h2 over ALPN.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr}

	base := time.Now()
	ws := make([]*worker, *conc)
	ctxs := make([]context.Context, *conc)
	for i := range ws {
		ws[i] = &worker{}
		ctxs[i] = context.Background()
		if *traced {
			ws[i].trace = fullTrace(ws[i], base)
			ctxs[i] = httptrace.WithClientTrace(context.Background(), ws[i].trace)
		}
	}

	buf := make([]byte, 32*1024)
	n, err := one(client, *url, ws[0], ctxs[0], buf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-go: probe request to %s failed: %v\n", *url, err)
		os.Exit(1)
	}
	if *bodyLen >= 0 && n != *bodyLen {
		fmt.Fprintf(os.Stderr, "bench-go: probe body length %d, expected %d\n", n, *bodyLen)
		os.Exit(1)
	}
	expect := n

	wb := &atomic.Int64{}
	wb.Store(*warmupReqs)
	phase(client, *url, ws, ctxs, &stop{deadline: time.Now().Add(time.Duration(*warmup * 1e9)), budget: wb}, expect)
	for _, w := range ws {
		w.h = hist{}
		w.ok, w.errors, w.firstErr = 0, 0, ""
	}

	if *turns > 0 {
		nextTurn()
	}
	// With --turns the measured window is N slices of duration/N (CPU counted from the first
	// slice's start to the last's end, so the runtime's work between slices counts too).
	slices := *turns
	if slices < 1 {
		slices = 1
	}
	var budget *atomic.Int64
	if *reqs > 0 {
		budget = &atomic.Int64{}
		budget.Store(*reqs)
	}
	wall := 0.0
	r0 := rusage()
	for i := 0; i < slices; i++ {
		if i > 0 {
			nextTurn()
		}
		s := &stop{budget: budget}
		if *dur > 0 {
			s.deadline = time.Now().Add(time.Duration(*dur / float64(slices) * 1e9))
		}
		t0 := time.Now()
		phase(client, *url, ws, ctxs, s, expect)
		wall += time.Since(t0).Seconds()
	}
	r1 := rusage()

	var h hist
	var ok, errs uint64
	firstErr := ""
	seen := 0
	for _, w := range ws {
		for i := range h {
			h[i] += w.h[i]
		}
		ok += w.ok
		errs += w.errors
		if firstErr == "" {
			firstErr = w.firstErr
		}
	}
	for i := 0; i < 16; i++ {
		for _, w := range ws {
			if w.slots[i].Load() != 0 {
				seen++
				break
			}
		}
	}
	user := tv(r1.Utime) - tv(r0.Utime)
	sys := tv(r1.Stime) - tv(r0.Stime)
	cpuPer := 0.0
	if ok > 0 {
		cpuPer = (user + sys) * 1e6 / float64(ok)
	}
	name := "go"
	var hooks interface{}
	if *traced {
		name = "go-traced"
		hooks = seen
	}
	var fe interface{}
	if firstErr != "" {
		fe = firstErr
	}
	out := map[string]interface{}{
		"scenario":       *scenario,
		"rep":            *rep,
		"client":         name,
		"url":            *url,
		"concurrency":    *conc,
		"h2":             *h2,
		"new_conn":       *newConn,
		"requests":       ok,
		"errors":         errs,
		"first_error":    fe,
		"wall_s":         wall,
		"rps":            float64(ok) / wall,
		"p50_us":         h.quantileUs(0.50),
		"p99_us":         h.quantileUs(0.99),
		"cpu_user_s":     user,
		"cpu_sys_s":      sys,
		"cpu_us_per_req": cpuPer,
		"max_rss_kb":     r1.Maxrss,
		"hooks_seen":     hooks,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
