// Extra scenarios for ../shared/conformance/oracle: cases the public list does not cover (HEAD,
// 204, 302, Connection: close, close-delimited bodies, 1xx floods, unsolicited 100, 101, a zero
// expect timeout, 200 before 100, Go's MaxIdleConnsPerHost meanings, a custom Host, TLS to
// localhost, TLS without keep-alive, wrong-host certificates, HTTP/2 uploads, early hints, 1xx
// abort, 100-continue and no keep-alive, forward and CONNECT proxies, refused localhost,
// trailers, truncated bodies, PUT without a body). scripts/conformance-extra.sh copies the
// oracle to a temp dir, adds this file and runs `check` on every x_ scenario.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func rawPort(e *Env, h rawHandler) (string, error) { return e.serveRaw("srv", h) }

func init() {
	hello := "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"
	publicScenarios = append(publicScenarios,
		&Scenario{Name: "x_head", Desc: "HEAD", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			s.Method = "HEAD"
			return s, err
		}},
		&Scenario{Name: "x_204", Desc: "204", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				return writeRaw(c, "HTTP/1.1 204 No Content\r\n\r\n")
			})
			s := newSpec(hostURL("127.0.0.1", p, "http"))
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_302", Desc: "302 not followed", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				return writeRaw(c, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 3\r\n\r\nabc")
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_conn_close", Desc: "server Connection: close, repeat 2", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				writeRaw(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, world!")
				return false
			})
			s := newSpec(hostURL("127.0.0.1", p, "http"))
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_close_delimited", Desc: "no CL, close", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				writeRaw(c, "HTTP/1.1 200 OK\r\n\r\nHello, world!")
				return false
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_1xx_flood", Desc: "6 x 103", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				return writeRaw(c, strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n", 6)+hello)
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_100_unsolicited", Desc: "100 without expect", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				return writeRaw(c, "HTTP/1.1 100 Continue\r\n\r\n"+hello)
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_101", Desc: "101 final", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				writeRaw(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
				return false
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_expect_0", Desc: "expect with 0 timeout", Start: func(e *Env) (Spec, error) {
			port, err := e.serveHTTP("srv", helloHandler(), nil, false)
			return expectSpec(port, 0), err
		}},
		&Scenario{Name: "x_expect_200_first", Desc: "200 before 100 keepalive", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				writeRaw(c, hello)
				io.Copy(io.Discard, r.Body)
				return true
			})
			return expectSpec(p, 1000), err
		}},
		&Scenario{Name: "x_max_idle_1", Desc: "concurrency 2 maxidle 1 slow", Start: func(e *Env) (Spec, error) {
			port, err := e.serveHTTP("srv", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(150 * time.Millisecond)
				io.WriteString(w, helloBody)
			}), nil, false)
			s := newSpec(hostURL("127.0.0.1", port, "http"))
			s.Repeat = 2
			s.Concurrency = 2
			s.MaxIdlePerHost = intp(1)
			return s, err
		}},
		&Scenario{Name: "x_max_idle_neg", Desc: "max idle -1", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			s.Repeat = 2
			s.MaxIdlePerHost = intp(-1)
			return s, err
		}},
		&Scenario{Name: "x_host_header", Desc: "custom Host", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			s.Headers = [][2]string{{"Host", "example.test"}, {"X-B", "2"}, {"X-A", "1"}}
			return s, err
		}},
		&Scenario{Name: "x_tls_localhost", Desc: "tls localhost", Start: func(e *Env) (Spec, error) {
			cfg, err := serverTLS(false, nil)
			if err != nil {
				return Spec{}, err
			}
			port, err := e.serveHTTP("srv", helloHandler(), cfg, true)
			s := newSpec(hostURL("localhost", port, "https"))
			ca, _ := e.caFile()
			s.CACert = strp(ca)
			return s, err
		}},
		&Scenario{Name: "x_tls_reuse_nokeep", Desc: "tls no keepalive repeat 2", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, false, true, false)
			s.Repeat = 2
			s.Keepalive = false
			return s, err
		}},
		&Scenario{Name: "x_tls_reuse", Desc: "tls repeat 2", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, false, true, false)
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_tls_wrong_host", Desc: "tls wrong host", Start: func(e *Env) (Spec, error) {
			return tlsHello(e, false, true, true)
		}},
		&Scenario{Name: "x_h2_post", Desc: "h2 post 1MiB", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, true, true, false)
			s.Method = "POST"
			s.BodyBytes = 1 << 20
			return s, err
		}},
		&Scenario{Name: "x_h2_early_hints", Desc: "h2 103", Start: func(e *Env) (Spec, error) { return h2hints(e, false) }},
		&Scenario{Name: "x_h2_early_hints_abort", Desc: "h2 103 abort", Start: func(e *Env) (Spec, error) { return h2hints(e, true) }},
		&Scenario{Name: "x_h2_expect", Desc: "h2 expect 100", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, true, true, false)
			s.Method = "POST"
			s.BodyBytes = 1024
			s.Headers = [][2]string{{"Expect", "100-continue"}}
			s.ExpectContinueTimeoutMS = intp(1000)
			return s, err
		}},
		&Scenario{Name: "x_h2_nokeep", Desc: "h2 no keepalive", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, true, true, false)
			s.Repeat = 2
			s.Keepalive = false
			return s, err
		}},
		&Scenario{Name: "x_proxy_forward", Desc: "http via forward proxy, repeat 2", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			if err != nil {
				return s, err
			}
			pport, err := e.serveProxy("proxy")
			s.Proxy = strp("http://" + net.JoinHostPort("127.0.0.1", pport))
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_proxy_forward_auth", Desc: "http via forward proxy with creds", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			if err != nil {
				return s, err
			}
			pport, err := e.serveProxy("proxy")
			s.Proxy = strp("http://u:p@" + net.JoinHostPort("127.0.0.1", pport))
			return s, err
		}},
		&Scenario{Name: "x_proxy_connect_h2", Desc: "h2 via CONNECT, repeat 2", Start: func(e *Env) (Spec, error) {
			s, err := tlsHello(e, true, true, false)
			if err != nil {
				return s, err
			}
			pport, err := e.serveProxy("proxy")
			s.Proxy = strp("http://" + net.JoinHostPort("127.0.0.1", pport))
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_localhost_refused", Desc: "localhost closed port", Start: func(e *Env) (Spec, error) {
			port, err := e.closedPort("closed")
			return newSpec(hostURL("localhost", port, "http")), err
		}},
		&Scenario{Name: "x_chunked_trailer", Desc: "chunked with trailer", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				return writeRaw(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
			})
			s := newSpec(hostURL("127.0.0.1", p, "http"))
			s.Repeat = 2
			return s, err
		}},
		&Scenario{Name: "x_truncated", Desc: "CL 20 send 5 close", Start: func(e *Env) (Spec, error) {
			p, err := rawPort(e, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
				writeRaw(c, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nhello")
				return false
			})
			return newSpec(hostURL("127.0.0.1", p, "http")), err
		}},
		&Scenario{Name: "x_put_empty", Desc: "PUT empty body", Start: func(e *Env) (Spec, error) {
			s, err := plainHello(e)
			s.Method = "PUT"
			return s, err
		}},
	)
	_ = fmt.Sprint
	_ = strconv.Itoa
}

func h2hints(e *Env, abort bool) (Spec, error) {
	cfg, err := serverTLS(false, []string{"h2", "http/1.1"})
	if err != nil {
		return Spec{}, err
	}
	port, err := e.serveHTTP("srv", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(103)
		w.Header().Set("Link", "</script.js>; rel=preload; as=script")
		w.WriteHeader(103)
		io.WriteString(w, helloBody)
	}), cfg, false)
	s := newSpec(hostURL("127.0.0.1", port, "https"))
	s.HTTP2 = true
	ca, _ := e.caFile()
	s.CACert = strp(ca)
	s.AbortOn1xx = abort
	return s, err
}
