package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/herald-mq/herald/fsm"
)

// Internal endpoints, served by Handler on every node.
const (
	// PathApply takes a msgpack fsm.Command (Now unset) and answers with a
	// wireReply carrying the fsm.Result.
	PathApply = "/internal/v1/apply"
	// PathApplyBatch takes a msgpack array of encoded fsm.Commands (Now
	// unset) and answers with a wireBatchReply: one wireReply per command,
	// in order. A follower sends the commands its clients write
	// concurrently in one call (batching.go).
	PathApplyBatch = "/internal/v1/apply-batch"
	// PathReadIndex takes an empty body and answers with a wireReply
	// carrying the leader's read index.
	PathReadIndex = "/internal/v1/readindex"

	// HeaderAuth carries hex(HMAC-SHA256(Secret, path + "\n" + body)).
	HeaderAuth = "X-Herald-Cluster-Auth"
	// HeaderNode names the calling node (for logs only).
	HeaderNode = "X-Herald-Node"

	contentType = "application/msgpack"
	// maxForwardBody bounds a forwarded command (a batch of maximum-size
	// posts fits comfortably).
	maxForwardBody = 64 << 20
	// maxReplyBody bounds a reply (results can carry claimed messages).
	maxReplyBody = 64 << 20
)

// wireCode is the stable error classification of a forwarding reply.
// Values are part of the wire format between nodes: never renumber them.
type wireCode uint8

const (
	wireOK             wireCode = 0
	wireNotLeader      wireCode = 1 // the receiver does not lead: not applied; find the leader again
	wireNoLeader       wireCode = 2 // the receiver knows no leader: not applied
	wireLeadershipLost wireCode = 3 // leadership ended while the command was in flight: outcome unknown
	wireUnavailable    wireCode = 4 // busy or timed out (enqueue timeout, transfer in progress): retry
	wireClosed         wireCode = 5 // the receiver is shutting down: not applied
	wireBadRequest     wireCode = 6 // the body did not decode: do not retry
	wireForbidden      wireCode = 7 // bad or missing authentication: do not retry
	wireInternal       wireCode = 8 // anything else: do not retry
)

// wireReply is the msgpack body of every internal endpoint reply.
type wireReply struct {
	Code   wireCode    `msgpack:"c,omitempty"`
	Msg    string      `msgpack:"m,omitempty"`
	Result *fsm.Result `msgpack:"r,omitempty"`
	Index  uint64      `msgpack:"i,omitempty"`
}

// wireBatchReply is the msgpack body of a PathApplyBatch reply: Code and
// Msg for the call as a whole (authentication, an undecodable body, no
// leadership), else one reply per command.
type wireBatchReply struct {
	Code    wireCode    `msgpack:"c,omitempty"`
	Msg     string      `msgpack:"m,omitempty"`
	Replies []wireReply `msgpack:"r,omitempty"`
}

// remoteError is a typed error reply from a peer.
type remoteError struct {
	code wireCode
	msg  string
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("cluster: peer replied with code %d: %s", e.code, e.msg)
}

// classifyRemote classifies an error of a forwarded call.
func classifyRemote(err error) attempt {
	if err == nil {
		return attemptFinal
	}
	var re *remoteError
	if !errors.As(err, &re) {
		if errors.Is(err, ErrForbidden) {
			return attemptFinal
		}
		// Transport error: the leader may be gone. Retrying is safe because
		// the command keeps its RequestID.
		return attemptNoLeader
	}
	switch re.code {
	case wireNotLeader, wireNoLeader, wireClosed:
		return attemptNoLeader
	case wireLeadershipLost, wireUnavailable:
		return attemptLeaderWas
	}
	return attemptFinal
}

// codeFor maps a local apply/read-index error to its wire code.
func codeFor(err error) wireCode {
	switch {
	case err == nil:
		return wireOK
	case errors.Is(err, ErrClosed), errors.Is(err, raft.ErrRaftShutdown):
		return wireClosed
	case errors.Is(err, raft.ErrNotLeader):
		return wireNotLeader
	case errors.Is(err, ErrNoLeader):
		return wireNoLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		return wireLeadershipLost
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrAbortedByRestore), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return wireUnavailable
	}
	return wireInternal
}

// sign returns the authentication header value for a request, "" when no
// secret is configured.
func (c *Cluster) sign(path string, body []byte) string {
	if c.cfg.Secret == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(c.cfg.Secret))
	m.Write([]byte(path))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// verify checks a request's authentication header in constant time.
func (c *Cluster) verify(path string, body []byte, got string) bool {
	if c.cfg.Secret == "" {
		return true
	}
	want := c.sign(path, body)
	return hmac.Equal([]byte(want), []byte(got))
}

// post POSTs body to a peer's internal endpoint and returns the status
// and the reply body.
func (c *Cluster) post(ctx context.Context, httpAddr, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(HeaderNode, c.cfg.NodeID)
	if sig := c.sign(path, body); sig != "" {
		req.Header.Set(HeaderAuth, sig)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		return resp.StatusCode, nil, ErrForbidden
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// call POSTs body to a peer's internal endpoint and decodes its reply.
func (c *Cluster) call(ctx context.Context, httpAddr, path string, body []byte) (*wireReply, error) {
	status, b, err := c.post(ctx, httpAddr, path, body)
	if err != nil {
		return nil, err
	}
	return decodeReply(b, fmt.Sprintf("HTTP %d", status))
}

// decodeReply decodes a single reply; what names it in errors.
func decodeReply(b []byte, what string) (*wireReply, error) {
	var rep wireReply
	if err := msgpack.Unmarshal(b, &rep); err != nil {
		return nil, &remoteError{code: wireInternal, msg: what + " with an undecodable body"}
	}
	if rep.Code != wireOK {
		return nil, &remoteError{code: rep.Code, msg: rep.Msg}
	}
	return &rep, nil
}

// callBatch POSTs an encoded batch to the leader's PathApplyBatch.
func (c *Cluster) callBatch(ctx context.Context, httpAddr string, body []byte) (*wireBatchReply, error) {
	status, b, err := c.post(ctx, httpAddr, PathApplyBatch, body)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		return nil, errNoBatchEndpoint
	}
	return decodeBatchReply(b, fmt.Sprintf("HTTP %d", status))
}

// decodeBatchReply decodes a batch reply; what names it in errors.
func decodeBatchReply(b []byte, what string) (*wireBatchReply, error) {
	var rep wireBatchReply
	if err := msgpack.Unmarshal(b, &rep); err != nil {
		return nil, &remoteError{code: wireInternal, msg: what + " with an undecodable body"}
	}
	if rep.Code != wireOK {
		return nil, &remoteError{code: rep.Code, msg: rep.Msg}
	}
	return &rep, nil
}

// forwardApply sends an encoded command to the leader.
func (c *Cluster) forwardApply(ctx context.Context, httpAddr string, body []byte) (*fsm.Result, error) {
	rep, err := c.call(ctx, httpAddr, PathApply, body)
	if err != nil {
		return nil, err
	}
	if rep.Result == nil {
		return &fsm.Result{}, nil // an all-zero Result encodes as nil
	}
	return rep.Result, nil
}

// forwardReadIndex asks the leader for its read index.
func (c *Cluster) forwardReadIndex(ctx context.Context, target leaderRef) (uint64, error) {
	var rep *wireReply
	var err error
	if c.useLink(target) {
		var b []byte
		if b, err = c.linkCall(ctx, target, frameReadIndex, newFrame(0)); err == nil {
			rep, err = decodeReply(b, "peer link reply")
		}
	} else {
		rep, err = c.call(ctx, target.httpAddr, PathReadIndex, nil)
	}
	if err != nil {
		return 0, err
	}
	return rep.Index, nil
}

// Handler serves the internal endpoints (PathApply, PathApplyBatch,
// PathReadIndex) under
// /internal/; node mounts it beside the public API. Requests must carry a
// valid HeaderAuth when Config.Secret is set (403 otherwise). The receiver
// never forwards again: a node that does not lead answers wireNotLeader.
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathApply, c.serveApply)
	mux.HandleFunc("POST "+PathApplyBatch, c.serveApplyBatch)
	mux.HandleFunc("POST "+PathReadIndex, c.serveReadIndex)
	return mux
}

// readAuthed reads the body and checks authentication; on failure it has
// already replied.
func (c *Cluster) readAuthed(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForwardBody))
	if err != nil {
		writeMsgpack(w, http.StatusBadRequest, &wireReply{Code: wireBadRequest, Msg: "cannot read body"})
		return nil, false
	}
	if !c.verify(r.URL.Path, body, r.Header.Get(HeaderAuth)) {
		c.log.Warn("rejected internal request: bad authentication", "path", r.URL.Path,
			"from_node", r.Header.Get(HeaderNode), "remote", r.RemoteAddr)
		writeMsgpack(w, http.StatusForbidden, &wireReply{Code: wireForbidden, Msg: "bad cluster authentication"})
		return nil, false
	}
	return body, true
}

func (c *Cluster) serveApply(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readAuthed(w, r)
	if !ok {
		return
	}
	cmd, err := fsm.DecodeCommandInPlace(body)
	if err != nil {
		writeMsgpack(w, http.StatusBadRequest, &wireReply{Code: wireBadRequest, Msg: "undecodable command"})
		return
	}
	rt, err := c.runtime()
	if err != nil {
		writeMsgpack(w, http.StatusOK, &wireReply{Code: codeFor(err), Msg: err.Error()})
		return
	}
	ctx, cancel := c.opContext(r.Context())
	defer cancel()
	res, err := c.applyLocal(ctx, rt, body, cmd.Type)
	if err != nil {
		writeMsgpack(w, http.StatusOK, &wireReply{Code: codeFor(err), Msg: err.Error()})
		return
	}
	writeMsgpack(w, http.StatusOK, &wireReply{Result: res})
}

func (c *Cluster) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.readAuthed(w, r); !ok {
		return
	}
	writeMsgpack(w, http.StatusOK, c.forwardedReadIndex(r.Context()))
}

// forwardedReadIndex answers a follower's read-index request (over HTTP
// or the peer link).
func (c *Cluster) forwardedReadIndex(ctx context.Context) *wireReply {
	if _, err := c.runtime(); err != nil {
		return &wireReply{Code: codeFor(err), Msg: err.Error()}
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	// A node that does not lead fails the round with raft.ErrNotLeader.
	idx, err := c.readIndex(ctx, leaderRef{id: c.cfg.NodeID, self: true})
	if err != nil {
		return &wireReply{Code: codeFor(err), Msg: err.Error()}
	}
	return &wireReply{Index: idx}
}

// serveApplyBatch applies a follower's batch sent over HTTP.
func (c *Cluster) serveApplyBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readAuthed(w, r)
	if !ok {
		return
	}
	rep := c.applyForwarded(r.Context(), body)
	status := http.StatusOK
	if rep.Code == wireBadRequest {
		status = http.StatusBadRequest
	}
	writeMsgpack(w, status, rep)
}

// applyForwarded applies a follower's batch (a PathApplyBatch body, over
// HTTP or the peer link): every command goes into the group commit queue
// at once (so they usually share one raft entry) and the reply carries
// each command's outcome. body must stay unmodified until it returns.
func (c *Cluster) applyForwarded(ctx context.Context, body []byte) *wireBatchReply {
	bodies, err := splitBins(body)
	if err != nil || len(bodies) == 0 {
		return &wireBatchReply{Code: wireBadRequest, Msg: "undecodable batch"}
	}
	rt, err := c.runtime()
	if err != nil {
		return &wireBatchReply{Code: codeFor(err), Msg: err.Error()}
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	if err := c.waitLeaderReady(ctx, rt); err != nil {
		return &wireBatchReply{Code: codeFor(err), Msg: err.Error()}
	}
	replies := make([]wireReply, len(bodies))
	queued := make([]*pending, len(bodies))
	for i, b := range bodies {
		cmd, err := fsm.DecodeCommandInPlace(b)
		if err != nil {
			replies[i] = wireReply{Code: wireBadRequest, Msg: "undecodable command"}
			continue
		}
		if queued[i], err = c.enqueue(ctx, b, cmd.Type); err != nil {
			replies[i] = wireReply{Code: codeFor(err), Msg: err.Error()}
		}
	}
	for i, p := range queued {
		if p == nil {
			continue
		}
		if res, err := c.await(ctx, p); err != nil {
			replies[i] = wireReply{Code: codeFor(err), Msg: err.Error()}
		} else {
			replies[i] = wireReply{Result: res}
		}
	}
	return &wireBatchReply{Replies: replies}
}

// writeMsgpack writes v as a msgpack reply.
func writeMsgpack(w http.ResponseWriter, status int, v any) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		b, _ = msgpack.Marshal(&wireReply{Code: wireInternal, Msg: "cannot encode reply"})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
}
