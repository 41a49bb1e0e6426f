// kubeclient heartbeats: the simulated nodes of `deno task bench heartbeats --client go`
// (e2e/bench/heartbeat_go.ts). The Deno/grpc-js nodes cost ≈ 1.7 ms of CPU per connection on
// the same two cores as the leader (docs/benchmarks.md, ramp-up), more than the leader itself,
// so the ramp-up measured the simulator; these cost a Go TLS handshake and one HTTP/2 stream.
//
// Each node has its own certificate and key, its own http.Transport (so its own TLS connection)
// and one Heartbeat stream on it: a POST of application/grpc whose request body is a pipe into
// which a length-prefixed HeartbeatRequest (empty: five zero bytes) is written every interval;
// responses are counted by their 5-byte prefixes, not decoded. At most -concurrency attempts
// (dial, handshake, first answer) are in flight; a failed attempt is retried with backoff, a
// stream that breaks after it was up is redialled, as the Deno simulator does. Unlike an agent
// (grpc-js: a PING every 10 s) it sends no keepalive pings, which Go 1.23's HTTP/2 client has no
// way to send on a busy connection.
//
// With -watch, every node also opens the all-nodes Watch an agent runs (hosts file, cluster
// networking, its resolver's curators) on the same connection once its stream is up, reads it
// for as long as the stream lives, and counts the backlog received when an event carries
// progress LAST_BACKLOGGED (the event's top-level fields are walked, nothing else is decoded);
// "watched" says every node of the process has its backlog from the current target.
//
// It reads its nodes' identities from stdin, one JSON line {"cert","key"} each, then speaks the
// line protocol of heartbeat_worker.ts (commands connect, report, progress, retarget, stop;
// events connected, report, progress, moved; see e2e/bench/heartbeat_client.ts), so the bench
// drives either client the same way, the failover included. No key is written to a file.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// An attempt whose first heartbeat is unanswered after this long is abandoned and redialled
	// (heartbeat_worker.ts: ATTEMPT_TIMEOUT_MS).
	hbAttemptTimeout = 15 * time.Second
	// A node gives up dialling after this long (heartbeat_worker.ts: GIVE_UP_MS).
	hbGiveUp = 120 * time.Second
	// Distinct error messages kept for the report; the count of errors is exact.
	hbErrorSample = 5
)

// An uncompressed gRPC message of zero bytes: HeartbeatRequest has no fields.
var hbFrame = []byte{0, 0, 0, 0, 0}

// WatchRequest{nodes_in_cluster: {}} (field 2, an empty message) as one gRPC message.
var watchFrame = []byte{0, 0, 0, 0, 2, 0x12, 0x00}

// A node's identity as the bench sends it on stdin: DER certificate and PKCS#8 key (base64).
type hbIdentity struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// Returned by attempts of a target generation that has been replaced (not a failure).
var errRetargeted = errors.New("retargeted")

type hbNode struct {
	cert tls.Certificate
	mu   sync.Mutex
	// Send time of the unanswered heartbeat (zero: none) and the body it is written to.
	sentAt time.Time
	body   *io.PipeWriter
	// Ends the current attempt or stream; the target generation last answered (-1: none).
	end func()
	gen int
	// The target generation whose all-nodes backlog this node has received (-1: none).
	watchGen int
}

type hbSim struct {
	path string
	// The Watch method's path ("" without -watch).
	watchPath string
	// A node that had a backlog before waits a random part of this before it watches again
	// (the agent's re-watch window, node/core/roleserve/rewatch.ts).
	watchJitter time.Duration
	interval    time.Duration
	slots       chan struct{}
	nodes       []*hbNode
	// Attempts in flight or waiting for a slot; streams up; nodes that gave up.
	pending, up, gaveUp atomic.Int64

	mu sync.Mutex
	// The target: URL of the Heartbeat method, TLS configuration (the leader's node ID as
	// ServerName), its generation (0, then one more per retarget), when it was set, and how many
	// nodes have been answered by it.
	url        string
	tls        *tls.Config
	gen        int
	movedAt    time.Time
	moved      int
	watched    int
	rtts       []float64
	errors     int
	reconnects int
	lastError  string
	sample     []string
}

func (s *hbSim) generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// reached records that n got to a milestone of target generation gen: its first answer (mark
// n.gen, counted in s.moved) or its all-nodes backlog (n.watchGen, s.watched). The first time for
// the current target it is counted, and when that made every node count, event ev (unless "")
// announces it with the milliseconds since connect or the retarget — under s.mu, so that no
// retarget comes between the check and the event.
func (s *hbSim) reached(n *hbNode, mark *int, count *int, gen int, ev string) {
	n.mu.Lock()
	first := *mark != gen
	*mark = gen
	n.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !first || gen != s.gen {
		return
	}
	*count++
	if *count == len(s.nodes) && ev != "" {
		hbEmit(map[string]any{"ev": ev, "ms": time.Since(s.movedAt).Milliseconds()})
	}
}

// arrived counts n's first answer from the target of generation gen; after a retarget, the last
// node to arrive announces that all have moved.
func (s *hbSim) arrived(n *hbNode, gen int) {
	ev := ""
	if gen > 0 {
		ev = "moved"
	}
	s.reached(n, &n.gen, &s.moved, gen, ev)
}

// retarget moves every node to the leader at target (host:port) named nodeID: streams and
// attempts of the old target end, and every node dials the new one.
func (s *hbSim) retarget(target, nodeID string) {
	s.mu.Lock()
	s.url = "https://" + target + s.path
	s.tls = s.tls.Clone()
	s.tls.ServerName = nodeID
	s.gen++
	gen := s.gen
	s.moved = 0
	s.watched = 0
	s.movedAt = time.Now()
	s.mu.Unlock()
	s.gaveUp.Store(0)
	for _, n := range s.nodes {
		n.mu.Lock()
		end := n.end
		n.mu.Unlock()
		if end != nil {
			end()
		}
	}
	go s.openAll(gen)
}

func (s *hbSim) fail(err error) {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	s.lastError = msg
	if len(s.sample) < hbErrorSample {
		for _, m := range s.sample {
			if m == msg {
				return
			}
		}
		s.sample = append(s.sample, msg)
	}
}

// answered records the answer to n's unanswered heartbeat, if any.
func (s *hbSim) answered(n *hbNode) {
	n.mu.Lock()
	sent := n.sentAt
	n.sentAt = time.Time{}
	n.mu.Unlock()
	if !sent.IsZero() {
		d := float64(time.Since(sent).Microseconds()) / 1000
		s.mu.Lock()
		s.rtts = append(s.rtts, d)
		s.mu.Unlock()
	}
}

// beat writes a heartbeat on n's stream unless the previous one is unanswered.
func beat(n *hbNode) {
	n.mu.Lock()
	if n.body == nil || !n.sentAt.IsZero() {
		n.mu.Unlock()
		return
	}
	n.sentAt = time.Now()
	w := n.body
	n.mu.Unlock()
	// The transport reads the pipe continuously; a broken stream closes it, ending the write.
	go w.Write(hbFrame)
}

// attempt opens n's connection and stream; returns once the first heartbeat is answered (the
// stream then lives on: heartbeats every interval, a redial when it breaks) or with the failure.
func (s *hbSim) attempt(n *hbNode, gen int) error {
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		return errRetargeted
	}
	target, cfg := s.url, s.tls.Clone()
	s.mu.Unlock()
	cfg.Certificates = []tls.Certificate{n.cert}
	tr := &http.Transport{
		TLSClientConfig:    cfg,
		ForceAttemptHTTP2:  true,
		DisableCompression: true,
		DialContext:        (&net.Dialer{Timeout: hbAttemptTimeout}).DialContext,
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	end := func() {
		cancel()
		pw.CloseWithError(io.ErrClosedPipe)
		tr.CloseIdleConnections()
	}
	timeout := time.AfterFunc(hbAttemptTimeout, cancel)
	defer timeout.Stop()
	req, err := http.NewRequestWithContext(ctx, "POST", target, pr)
	if err != nil {
		end()
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	n.mu.Lock()
	n.body, n.sentAt, n.end = pw, time.Time{}, end
	n.mu.Unlock()
	beat(n)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		err = hbResponseError(resp)
	}
	if err != nil {
		end()
		return err
	}
	// The reader alone decides whether the stream was up: before its first answer a failure is
	// this attempt's, after it the stream's (a redial).
	first := make(chan error, 1)
	go func() {
		wasUp := false
		err := hbRead(resp, func() {
			s.answered(n)
			if !wasUp {
				wasUp = true
				s.up.Add(1)
				s.arrived(n, gen)
				first <- nil
			}
		})
		if !wasUp {
			first <- err
			return
		}
		end()
		s.up.Add(-1)
		n.mu.Lock()
		if n.body == pw {
			n.body = nil
		}
		n.mu.Unlock()
		if s.generation() != gen {
			return // ended by a retarget, which redials every node
		}
		s.fail(err)
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		s.openWithRetry(n, gen)
	}()
	if err := <-first; err != nil {
		end()
		return err
	}
	timeout.Stop()
	if s.generation() != gen {
		end() // answered by the old target after a retarget: its reader sees the end
		return errRetargeted
	}
	if s.watchPath != "" {
		go s.watch(ctx, n, tr, strings.TrimSuffix(target, s.path)+s.watchPath, gen)
	}
	// Heartbeats every interval from a random phase, as independent nodes would.
	go func() {
		select {
		case <-time.After(time.Duration(rand.Int63n(int64(s.interval)))):
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			beat(n)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// watch reads n's all-nodes Watch at url over tr (the heartbeat stream's connection) until ctx
// ends with that stream; a watch that fails on its own is not reopened (the next stream opens
// one). A failure is counted like a stream's. Like an agent, a node that already had a backlog
// first waits a random part of s.watchJitter.
func (s *hbSim) watch(ctx context.Context, n *hbNode, tr *http.Transport, url string, gen int) {
	n.mu.Lock()
	had := n.watchGen >= 0
	n.mu.Unlock()
	if had && s.watchJitter > 0 {
		select {
		case <-time.After(time.Duration(rand.Int63n(int64(s.watchJitter)))):
		case <-ctx.Done():
			return
		}
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(watchFrame))
	if err != nil {
		s.fail(err)
		return
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := tr.RoundTrip(req)
	if err == nil {
		err = hbResponseError(resp)
	}
	if err == nil {
		err = readWatch(resp, func() { s.backlogged(n, gen) })
	}
	if ctx.Err() == nil {
		s.fail(fmt.Errorf("watch: %w", err))
	}
}

// readWatch reads WatchEvents until the stream ends, calling backlogged for the event marked
// LAST_BACKLOGGED; the reason it ended.
func readWatch(resp *http.Response, backlogged func()) error {
	defer resp.Body.Close()
	var prefix [5]byte
	for {
		if _, err := io.ReadFull(resp.Body, prefix[:]); err != nil {
			return err
		}
		msg := make([]byte, binary.BigEndian.Uint32(prefix[1:]))
		if _, err := io.ReadFull(resp.Body, msg); err != nil {
			return err
		}
		if lastBacklogged(msg) {
			backlogged()
		}
	}
}

// lastBacklogged reports whether the WatchEvent ev has progress (field 2) = LAST_BACKLOGGED (1),
// walking its top-level fields only.
func lastBacklogged(ev []byte) bool {
	for p := 0; p < len(ev); {
		tag, k := binary.Uvarint(ev[p:])
		if k <= 0 {
			return false
		}
		p += k
		switch tag & 7 {
		case 0: // varint
			v, k := binary.Uvarint(ev[p:])
			if k <= 0 {
				return false
			}
			p += k
			if tag>>3 == 2 && v == 1 {
				return true
			}
		case 2: // length-delimited
			l, k := binary.Uvarint(ev[p:])
			if k <= 0 {
				return false
			}
			p += k + int(l)
		default:
			return false
		}
	}
	return false
}

// backlogged counts n's backlog from the target of generation gen; the last node to receive it
// announces that all have.
func (s *hbSim) backlogged(n *hbNode, gen int) {
	s.reached(n, &n.watchGen, &s.watched, gen, "watched")
}

// hbResponseError is the failure a response's headers already show: not HTTP/2 or 200, or a
// trailers-only gRPC error (its status in the headers).
func hbResponseError(resp *http.Response) error {
	var err error
	switch {
	case resp.ProtoMajor != 2:
		err = fmt.Errorf("%s, not HTTP/2", resp.Proto)
	case resp.StatusCode != 200:
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	case resp.Header.Get("Grpc-Status") != "":
		err = fmt.Errorf("grpc-status %s: %s", resp.Header.Get("Grpc-Status"),
			grpcMessage(resp.Header))
	}
	if err != nil {
		resp.Body.Close()
	}
	return err
}

// grpcMessage is the grpc-message of h, percent-decoded as gRPC sends it.
func grpcMessage(h http.Header) string {
	m := h.Get("Grpc-Message")
	if d, err := url.PathUnescape(m); err == nil {
		return d
	}
	return m
}

// hbRead calls answer for every response message until the stream ends; the reason it ended.
func hbRead(resp *http.Response, answer func()) error {
	defer resp.Body.Close()
	var prefix [5]byte
	for {
		if _, err := io.ReadFull(resp.Body, prefix[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("stream ended: grpc-status %q: %s", resp.Trailer.Get("Grpc-Status"),
					grpcMessage(resp.Trailer))
			}
			return err
		}
		size := int64(binary.BigEndian.Uint32(prefix[1:]))
		if _, err := io.CopyN(io.Discard, resp.Body, size); err != nil {
			return err
		}
		answer()
	}
}

// openWithRetry opens n until its first heartbeat is answered, at most -concurrency attempts
// in flight, retrying with backoff (250 ms growing to 2 s, jittered, as an agent's dialer) for
// up to hbGiveUp or until a retarget.
func (s *hbSim) openWithRetry(n *hbNode, gen int) {
	s.pending.Add(1)
	defer s.pending.Add(-1)
	until := time.Now().Add(hbGiveUp)
	for attempt := 0; s.generation() == gen; attempt++ {
		s.slots <- struct{}{}
		err := s.attempt(n, gen)
		<-s.slots
		if err == nil || errors.Is(err, errRetargeted) || s.generation() != gen {
			return // up, or ended by a retarget, which redials every node
		}
		s.fail(err)
		if time.Now().After(until) {
			s.gaveUp.Add(1)
			return
		}
		backoff := 250 * time.Millisecond
		for i := 0; i < attempt && backoff < 2*time.Second; i++ {
			backoff = backoff * 8 / 5
		}
		backoff = min(backoff, 2*time.Second)
		time.Sleep(time.Duration(float64(backoff) * (0.5 + rand.Float64()/2)))
	}
}

// openAll opens every node for target generation gen, a pool of -concurrency openers.
func (s *hbSim) openAll(gen int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < cap(s.slots); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(s.nodes) || s.generation() != gen {
					return
				}
				s.openWithRetry(s.nodes[k], gen)
			}
		}()
	}
	wg.Wait()
}

var hbEmitMu sync.Mutex

// hbEmit prints one event line; events come from several goroutines.
func hbEmit(v any) {
	hbEmitMu.Lock()
	defer hbEmitMu.Unlock()
	emit(v)
}

// counters is the part of every event about failures.
func (s *hbSim) counters(m map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m["errors"] = s.errors
	m["lastError"] = s.lastError
	m["errorSample"] = append([]string{}, s.sample...)
	return m
}

func heartbeats(args []string) {
	fs := flag.NewFlagSet("heartbeats", flag.ExitOnError)
	var c common
	c.flags(fs)
	path := fs.String("path", "", "/package.Curator/Heartbeat")
	interval := fs.Duration("interval", 5*time.Second, "heartbeat interval")
	concurrency := fs.Int("concurrency", 100, "attempts in flight")
	watchPath := fs.String("watch", "", "also watch all nodes: /package.Curator/Watch")
	watchJitter := fs.Duration("watch-jitter", 0, "a node that had a backlog waits a random part of this before watching again")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of this process to F until stop")
	check(fs.Parse(args))
	stopProfile := func() {}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		stopProfile = func() {
			pprof.StopCPUProfile()
			check(f.Close())
		}
	}
	s := &hbSim{
		path:        *path,
		watchPath:   *watchPath,
		watchJitter: *watchJitter,
		url:         c.server + *path,
		tls: &tls.Config{
			RootCAs:    c.caPool(),
			ServerName: c.serverName,
			// The group an agent's TLS client (Deno's rustls) offers first and sends its key
			// share for, so the leader does the same key exchange as for an agent; Go 1.23's
			// default would add an X25519Kyber768Draft00 share the leader ignores, costing
			// only this client.
			CurvePreferences: []tls.CurveID{tls.X25519},
		},
		interval: *interval,
		slots:    make(chan struct{}, max(1, *concurrency)),
		rtts:     []float64{},
	}
	// Nodes first, one identity per line, then commands; command lines name a "cmd".
	in := bufio.NewScanner(os.Stdin)
	connected := false
	for in.Scan() {
		var line struct {
			Cmd string `json:"cmd"`
			hbIdentity
			// retarget: the new leader (e2e/bench/curator_server.ts ServerInfo).
			Info struct {
				Target string `json:"target"`
				NodeID string `json:"nodeId"`
			} `json:"info"`
		}
		check(json.Unmarshal(in.Bytes(), &line))
		if line.Cmd == "" {
			if connected {
				fail("a node identity after connect")
			}
			key, err := x509.ParsePKCS8PrivateKey(line.Key)
			check(err)
			s.nodes = append(s.nodes, &hbNode{
				cert:     tls.Certificate{Certificate: [][]byte{line.Cert}, PrivateKey: key},
				gen:      -1,
				watchGen: -1,
			})
			continue
		}
		switch line.Cmd {
		case "connect":
			connected = true
			// Not waited for, so that progress is answered during the ramp-up.
			s.mu.Lock()
			s.movedAt = time.Now()
			s.mu.Unlock()
			go func() {
				t0 := time.Now()
				s.openAll(0)
				hbEmit(s.counters(map[string]any{"ev": "connected", "ms": time.Since(t0).Milliseconds()}))
			}()
		case "report":
			s.mu.Lock()
			rtts := s.rtts
			s.rtts = []float64{}
			s.mu.Unlock()
			hbEmit(s.counters(map[string]any{
				"ev": "report", "rtts": rtts, "reconnects": s.reconnectCount(),
				"streams": s.up.Load(),
			}))
		case "retarget":
			s.retarget(line.Info.Target, line.Info.NodeID)
		case "progress":
			s.mu.Lock()
			notMoved := len(s.nodes) - s.moved
			s.mu.Unlock()
			hbEmit(s.counters(map[string]any{
				"ev": "progress", "notMoved": notMoved,
				"gaveUp": s.gaveUp.Load(), "pending": s.pending.Load(),
			}))
		case "stop":
			// Exiting closes every connection; the leader sees them end.
			stopProfile()
			os.Exit(0)
		default:
			fail("unknown command %q", line.Cmd)
		}
	}
	stopProfile()
}

func (s *hbSim) reconnectCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}
