// kubeclient: the Go HTTP/2 client of the bench's comparisons (e2e/bench/kubepeer.ts), a client
// of kube-apiserver over HTTP/2 with TLS client certificates, standard library only, as client-go
// talks to it (one multiplexed HTTP/2 connection per transport, protobuf or JSON bodies). The same
// transport also times our gRPC server-streaming calls (grpc-stream), so that both sides of a
// comparison are read by the same client code (e2e/bench/getnodes.ts).
//
//	kubeclient create -server URL -ca F -cert F -key F -path P -c N < objects.jsonl
//	    POSTs each JSON line to P with N in flight; prints {"created":n,"ms":t}.
//	kubeclient list -server URL ... -path P -n N [-accept A]
//	    N sequential GETs of P reading the whole body (not decoded, like the hand measurement
//	    of issue #16); prints {"ms":[...],"bytes":b}.
//	kubeclient grpc-stream -server URL -server-name NODEID ... -path /pkg.Service/Method -body-hex H -n N
//	    N sequential gRPC calls over one HTTP/2 connection: POST of the length-prefixed request
//	    H (hex protobuf), the response body read whole as list reads it, its gRPC messages counted
//	    by their 5-byte prefixes (not decoded); fails unless grpc-status is 0; prints
//	    {"ms":[...],"bytes":b,"messages":m} (bytes: the whole body, prefixes included).
//	kubeclient leases -server URL ... -n N -interval 10s -duration 60s -conns C -ns NS
//	    Creates N Leases, then renews each every interval the way the kubelet does (PUT of the
//	    last object it got, with its resourceVersion, renewTime set to now), spread evenly over
//	    the interval, over C HTTP/2 connections; prints renewal counts and RTT percentiles.
//	kubeclient heartbeats -server URL -server-name NODEID -ca F -path /pkg.Curator/Heartbeat -nodes F ...
//	    Simulated nodes holding Heartbeat streams, driven over stdin/stdout (heartbeats.go).
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type common struct {
	server, serverName, ca, cert, key string
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "https://host:port")
	fs.StringVar(&c.ca, "ca", "", "CA certificate (PEM)")
	fs.StringVar(&c.cert, "cert", "", "client certificate (PEM)")
	fs.StringVar(&c.key, "key", "", "client key (PEM)")
	// Our nodes' certificates name the node ID (their only DNS SAN), not the address dialled.
	fs.StringVar(&c.serverName, "server-name", "", "name the server certificate must carry (default: the URL's host)")
}

// caPool is the CA file's certificates, the roots the server certificate must chain to.
func (c *common) caPool() *x509.CertPool {
	pool := x509.NewCertPool()
	caPem, err := os.ReadFile(c.ca)
	check(err)
	if !pool.AppendCertsFromPEM(caPem) {
		fail("no CA certificate in %s", c.ca)
	}
	return pool
}

func (c *common) client() *http.Client {
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	check(err)
	t := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      c.caPool(),
			Certificates: []tls.Certificate{pair},
			ServerName:   c.serverName,
		},
		ForceAttemptHTTP2: true,
		MaxIdleConns:      16,
	}
	return &http.Client{Transport: t, Timeout: 120 * time.Second}
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "kubeclient: "+f+"\n", a...)
	os.Exit(1)
}

func emit(v any) {
	b, err := json.Marshal(v)
	check(err)
	fmt.Println(string(b))
}

func do(cl *http.Client, method, url, accept string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 {
		return b, resp.StatusCode, fmt.Errorf("%s %s: %s, not HTTP/2", method, url, resp.Proto)
	}
	return b, resp.StatusCode, err
}

func create(args []string) {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	var c common
	c.flags(fs)
	path := fs.String("path", "", "collection path")
	conc := fs.Int("c", 32, "requests in flight")
	check(fs.Parse(args))
	cl := c.client()
	lines := make(chan []byte)
	var created, failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range lines {
				b, code, err := do(cl, "POST", c.server+*path, "application/json", l)
				if err == nil && code != 201 {
					err = fmt.Errorf("POST %s: %d %s", *path, code, string(b))
				}
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				} else {
					created.Add(1)
				}
			}
		}()
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines <- append([]byte(nil), sc.Bytes()...)
	}
	close(lines)
	wg.Wait()
	if failed.Load() > 0 {
		fail("%d of %d creations failed, last: %v", failed.Load(), failed.Load()+created.Load(), lastErr.Load())
	}
	emit(map[string]any{"created": created.Load(), "ms": time.Since(start).Milliseconds()})
}

func list(args []string) {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	var c common
	c.flags(fs)
	path := fs.String("path", "", "path with query")
	n := fs.Int("n", 10, "calls")
	accept := fs.String("accept", "application/vnd.kubernetes.protobuf", "Accept header")
	check(fs.Parse(args))
	cl := c.client()
	ms := make([]float64, 0, *n)
	size := 0
	for i := 0; i < *n; i++ {
		t := time.Now()
		b, code, err := do(cl, "GET", c.server+*path, *accept, nil)
		check(err)
		if code != 200 {
			fail("GET %s: %d %s", *path, code, string(b))
		}
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		size = len(b)
	}
	emit(map[string]any{"ms": ms, "bytes": size})
}

// grpcStream: see the usage at the top. The request and the body read are the list's (one
// http.Client, io.ReadAll of the whole body); walking the prefixes adds a loop over the messages.
func grpcStream(args []string) {
	fs := flag.NewFlagSet("grpc-stream", flag.ExitOnError)
	var c common
	c.flags(fs)
	path := fs.String("path", "", "/package.Service/Method")
	bodyHex := fs.String("body-hex", "", "request message (protobuf), hex")
	n := fs.Int("n", 10, "calls")
	check(fs.Parse(args))
	msg, err := hex.DecodeString(*bodyHex)
	check(err)
	// One uncompressed gRPC message: flag 0, big-endian length, the message.
	body := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:5], uint32(len(msg)))
	copy(body[5:], msg)
	cl := c.client()
	ms := make([]float64, 0, *n)
	size, messages := 0, 0
	for i := 0; i < *n; i++ {
		t := time.Now()
		b, m := grpcCall(cl, c.server+*path, body)
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		size, messages = len(b), m
	}
	emit(map[string]any{"ms": ms, "bytes": size, "messages": messages})
}

// grpcCall makes one gRPC call with request body `body` (already prefixed) and returns the whole
// response body and its number of messages; any failure, including a grpc-status other than 0,
// ends the program.
func grpcCall(cl *http.Client, url string, body []byte) ([]byte, int) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	check(err)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := cl.Do(req)
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	if resp.ProtoMajor != 2 {
		fail("POST %s: %s, not HTTP/2", url, resp.Proto)
	}
	if resp.StatusCode != 200 {
		fail("POST %s: HTTP %d %s", url, resp.StatusCode, string(b))
	}
	// A failed call may be trailers-only: its status then arrives in the headers.
	status, message := resp.Trailer.Get("Grpc-Status"), grpcMessage(resp.Trailer)
	if status == "" {
		status, message = resp.Header.Get("Grpc-Status"), grpcMessage(resp.Header)
	}
	if status != "0" {
		fail("POST %s: grpc-status %q: %s", url, status, message)
	}
	messages := 0
	for off := 0; off < len(b); messages++ {
		if len(b)-off < 5 {
			fail("POST %s: %d trailing bytes, not a message prefix", url, len(b)-off)
		}
		if b[off] != 0 {
			fail("POST %s: message %d has flags %d (compressed?)", url, messages, b[off])
		}
		off += 5 + int(binary.BigEndian.Uint32(b[off+1:off+5]))
		if off > len(b) {
			fail("POST %s: message %d runs past the end of the body", url, messages)
		}
	}
	return b, messages
}

type lease struct {
	obj map[string]any
	url string
}

func leases(args []string) {
	fs := flag.NewFlagSet("leases", flag.ExitOnError)
	var c common
	c.flags(fs)
	n := fs.Int("n", 1000, "leases")
	interval := fs.Duration("interval", 10*time.Second, "renewal interval")
	duration := fs.Duration("duration", 60*time.Second, "steady phase")
	conns := fs.Int("conns", 64, "HTTP/2 connections")
	ns := fs.String("ns", "kube-node-lease", "namespace")
	pids := fs.String("cpu-pids", "", "comma-separated PIDs whose CPU time the steady phase reports")
	check(fs.Parse(args))
	clients := make([]*http.Client, *conns)
	for i := range clients {
		clients[i] = c.client()
	}
	base := fmt.Sprintf("%s/apis/coordination.k8s.io/v1/namespaces/%s/leases", c.server, *ns)
	ls := make([]*lease, *n)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var createErr atomic.Value
	for i := range ls {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("bench-node-%05d", i)
			body, _ := json.Marshal(map[string]any{
				"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
				"metadata": map[string]any{"name": name, "namespace": *ns},
				"spec": map[string]any{
					"holderIdentity":       name,
					"leaseDurationSeconds": 40,
					"renewTime":            time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
				},
			})
			b, code, err := do(clients[i%*conns], "POST", base, "application/json", body)
			if err == nil && code != 201 {
				err = fmt.Errorf("POST lease: %d %s", code, string(b))
			}
			if err != nil {
				createErr.Store(err.Error())
				return
			}
			var obj map[string]any
			check(json.Unmarshal(b, &obj))
			ls[i] = &lease{obj: obj, url: base + "/" + name}
		}(i)
	}
	wg.Wait()
	if e := createErr.Load(); e != nil {
		fail("creating leases: %v", e)
	}
	createMs := time.Since(start).Milliseconds()
	fmt.Fprintf(os.Stderr, "kubeclient: %d leases created in %d ms; renewing\n", *n, createMs)
	// Steady phase: each lease renewed every interval, phases spread over the interval.
	var mu sync.Mutex
	rtts := []float64{}
	var renewed, conflicts, errs atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	steadyStart := time.Now()
	cpu0 := cpuTimes(*pids)
	for i, l := range ls {
		wg.Add(1)
		go func(i int, l *lease) {
			defer wg.Done()
			cl := clients[i%*conns]
			offset := time.Duration(int64(*interval) * int64(i) / int64(*n))
			select {
			case <-time.After(offset):
			case <-stop:
				return
			}
			tick := time.NewTicker(*interval)
			defer tick.Stop()
			for {
				spec := l.obj["spec"].(map[string]any)
				spec["renewTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
				body, _ := json.Marshal(l.obj)
				t := time.Now()
				b, code, err := do(cl, "PUT", l.url, "application/json", body)
				d := float64(time.Since(t).Microseconds()) / 1000
				switch {
				case err != nil:
					errs.Add(1)
					lastErr.Store(err.Error())
				case code == 409:
					conflicts.Add(1)
				case code != 200:
					errs.Add(1)
					lastErr.Store(fmt.Sprintf("PUT lease: %d %s", code, string(b)))
				default:
					var obj map[string]any
					if json.Unmarshal(b, &obj) == nil {
						l.obj = obj
					}
					renewed.Add(1)
					mu.Lock()
					rtts = append(rtts, d)
					mu.Unlock()
				}
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		}(i, l)
	}
	time.Sleep(*duration)
	cpu1 := cpuTimes(*pids)
	steady := time.Since(steadyStart).Seconds()
	close(stop)
	wg.Wait()
	sort.Float64s(rtts)
	pct := func(p float64) float64 {
		if len(rtts) == 0 {
			return -1
		}
		k := int(p/100*float64(len(rtts))+0.999999) - 1
		if k < 0 {
			k = 0
		}
		return rtts[k]
	}
	out := map[string]any{
		"leases": *n, "createMs": createMs, "steadyS": steady,
		"renewed": renewed.Load(), "conflicts": conflicts.Load(), "errors": errs.Load(),
		"p50": pct(50), "p99": pct(99),
	}
	if e := lastErr.Load(); e != nil {
		out["lastError"] = e
	}
	cpuPct := map[string]float64{}
	for pid, t := range cpu1 {
		cpuPct[pid] = (t - cpu0[pid]) / steady * 100
	}
	out["cpuPct"] = cpuPct
	emit(out)
}

// cpuTimes reads utime+stime in seconds of each PID of the comma-separated list (USER_HZ 100).
func cpuTimes(pids string) map[string]float64 {
	out := map[string]float64{}
	if pids == "" {
		return out
	}
	for _, pid := range strings.Split(pids, ",") {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		check(err)
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		u, err1 := strconv.ParseFloat(f[11], 64)
		k, err2 := strconv.ParseFloat(f[12], 64)
		check(err1)
		check(err2)
		out[pid] = (u + k) / 100
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: kubeclient create|list|grpc-stream|leases|heartbeats [flags]")
	}
	switch os.Args[1] {
	case "create":
		create(os.Args[2:])
	case "list":
		list(os.Args[2:])
	case "grpc-stream":
		grpcStream(os.Args[2:])
	case "leases":
		leases(os.Args[2:])
	case "heartbeats":
		heartbeats(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
