package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestOverRealHTTP checks what only a real server shows: Content-Length as
// sent on the wire, chunked bodies, HEAD.
func TestOverRealHTTP(t *testing.T) {
	e := newFSMEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	raw := func(req string) string {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(conn)
		return string(b)
	}
	hdr := "Host: x\r\nClient-ID: " + testClient + "\r\nX-Project-ID: " + testProject + "\r\nConnection: close\r\n"

	// A declared empty body of form type is refused (curl -d '').
	out := raw("PUT /v2/queues/f HTTP/1.1\r\n" + hdr + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, titleInvalidCT) {
		t.Fatalf("form with Content-Length 0: %s", out)
	}
	// A chunked message body over the limit is refused.
	body := `{"messages": [{"body": "` + strings.Repeat("x", 300000) + `"}]}`
	out = raw(fmt.Sprintf("POST /v2/queues/c/messages HTTP/1.1\r\n%sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		hdr, len(body), body))
	if !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "too large") {
		t.Fatalf("chunked oversize: %.300s", out)
	}
	// A small chunked body is fine.
	body = `{"messages": [{"body": "chunked"}]}`
	out = raw(fmt.Sprintf("POST /v2/queues/c/messages HTTP/1.1\r\n%sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		hdr, len(body), body))
	if !strings.HasPrefix(out, "HTTP/1.1 201") {
		t.Fatalf("chunked post: %s", out)
	}
	// HEAD ping.
	req, _ := http.NewRequest("HEAD", srv.URL+"/v2/ping", nil)
	req.Header.Set("Client-ID", testClient)
	req.Header.Set("X-Project-ID", testProject)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || !strings.HasPrefix(res.Header.Get("x-openstack-request-id"), "req-") {
		t.Fatalf("HEAD ping %d %v", res.StatusCode, res.Header)
	}
}

// TestConcurrentRequests runs writers and readers at once (for -race).
func TestConcurrentRequests(t *testing.T) {
	e := newFSMEnv(t)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			q := fmt.Sprintf("/v2/queues/c%d", w%2)
			for i := 0; i < 20; i++ {
				for _, r := range []*req{
					e.req("POST", q+"/messages").json(fmt.Sprintf(`{"messages": [{"body": %d}]}`, i)),
					e.req("GET", q+"/messages?echo=true"),
					e.req("POST", q+"/claims?limit=1"),
					e.req("GET", q+"/stats"),
					e.req("DELETE", q+"/messages?pop=1"),
					e.req("GET", "/v2/queues?detailed=true"),
				} {
					if res := r.do(); res.status >= 500 {
						t.Errorf("%s %s: %d %s", r.method, r.path, res.status, res.body)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	for _, q := range []string{"c0", "c1"} {
		var st struct {
			Messages struct{ Claimed, Free, Total int } `json:"messages"`
		}
		if err := json.Unmarshal(e.get("/v2/queues/"+q+"/stats").body, &st); err != nil {
			t.Fatal(err)
		}
		if m := st.Messages; m.Total != m.Claimed+m.Free || m.Total < 0 {
			t.Fatalf("%s stats %+v", q, m)
		}
	}
}
