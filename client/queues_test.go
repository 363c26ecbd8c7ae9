package client

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestCreateQueue(t *testing.T) {
	f := newFake(t, reply{status: 201, header: map[string]string{"Location": "/v2/queues/q1"}}, reply{status: 204})
	c := f.client()
	ctx := context.Background()
	created, err := c.CreateQueue(ctx, "q1", map[string]any{"_default_message_ttl": 120, "color": "red"})
	if err != nil || !created {
		t.Fatalf("created=%v err=%v, want true", created, err)
	}
	created, err = c.CreateQueue(ctx, "q1", nil)
	if err != nil || created {
		t.Fatalf("created=%v err=%v, want false (204)", created, err)
	}
	rs := f.requests()
	rs[0].want(t, "PUT", "/v2/queues/q1", "", `{"_default_message_ttl":120,"color":"red"}`)
	if ct := rs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	rs[1].want(t, "PUT", "/v2/queues/q1", "", "")
}

func TestGetQueue(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"_default_message_ttl":3600,"_dead_letter_queue":null,"k":"v"}`})
	md, err := f.client().GetQueue(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q", "", "")
	want := map[string]any{"_default_message_ttl": 3600.0, "_dead_letter_queue": nil, "k": "v"}
	if !reflect.DeepEqual(md, want) {
		t.Errorf("metadata = %v", md)
	}
}

func TestPatchQueue(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"a":1,"_default_message_ttl":3600}`})
	md, err := f.client().PatchQueue(context.Background(), "q", []PatchOp{
		PatchAdd("a", 1), PatchReplace("x/y~z", nil), PatchRemove("old"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.only()
	r.want(t, "PATCH", "/v2/queues/q", "",
		`[{"op":"add","path":"/metadata/a","value":1},{"op":"replace","path":"/metadata/x~1y~0z","value":null},{"op":"remove","path":"/metadata/old"}]`)
	if ct := r.Header.Get("Content-Type"); ct != "application/openstack-messaging-v2.0-json-patch" {
		t.Errorf("Content-Type = %q", ct)
	}
	if md["a"] != 1.0 {
		t.Errorf("metadata = %v", md)
	}
}

func TestListQueues(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"queues":[{"name":"qa","href":"/v2/queues/qa","metadata":{"k":1}},` +
		`{"name":"qb","href":"/v2/queues/qb"}],"links":[{"rel":"next","href":"/v2/queues?marker=qb&limit=2&detailed=true"}],"count":7}`})
	page, err := f.client().ListQueues(context.Background(), ListQueuesOptions{
		Marker: "q 0", Limit: 2, Detailed: true, Name: "q", WithCount: true,
		Filters: map[string]string{"zone": "b", "color": "red"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues", "marker=q+0&limit=2&detailed=true&name=q&with_count=true&color=red&zone=b", "")
	want := &QueuePage{Queues: []Queue{
		{Name: "qa", Href: "/v2/queues/qa", Metadata: map[string]any{"k": 1.0}},
		{Name: "qb", Href: "/v2/queues/qb"},
	}, Next: "qb", Count: 7}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("page = %+v\nwant   %+v", page, want)
	}
}

func TestListQueuesEmpty(t *testing.T) {
	for _, rp := range []reply{{status: 200, body: `{"queues":[],"links":[]}`}, {status: 204}} {
		f := newFake(t, rp)
		page, err := f.client().ListQueues(context.Background(), ListQueuesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.only().want(t, "GET", "/v2/queues", "", "")
		if page.Queues == nil || len(page.Queues) != 0 || page.Next != "" || page.Count != 0 {
			t.Errorf("page = %+v", page)
		}
	}
}

func TestQueueStats(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"messages":{"claimed":1,"free":2,"total":3,` +
		`"oldest":{"href":"/v2/queues/q/messages/a","age":5,"created":"2024-01-02T03:04:05Z"},` +
		`"newest":{"href":"/v2/queues/q/messages/c","age":1,"created":"2024-01-02T03:04:09Z"}}}`})
	st, err := f.client().QueueStats(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/stats", "", "")
	want := &QueueStats{Claimed: 1, Free: 2, Total: 3,
		Oldest: &MessageStat{Href: "/v2/queues/q/messages/a", Age: 5, Created: "2024-01-02T03:04:05Z"},
		Newest: &MessageStat{Href: "/v2/queues/q/messages/c", Age: 1, Created: "2024-01-02T03:04:09Z"}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats = %+v", st)
	}
}

func TestPurgeQueue(t *testing.T) {
	f := newFake(t)
	c := f.client()
	ctx := context.Background()
	if err := c.PurgeQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := c.PurgeQueue(ctx, "q", "messages"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "POST", "/v2/queues/q/purge", "", "")
	rs[1].want(t, "POST", "/v2/queues/q/purge", "", `{"resource_types":["messages"]}`)
}

func TestShareQueueAndSignedClient(t *testing.T) {
	f := newFake(t,
		reply{status: 200, body: `{"project":"p1","paths":["/v2/queues/q/claims","/v2/queues/q/messages"],` +
			`"methods":["GET","POST"],"expires":"2030-01-02T03:04:05","signature":"abc123"}`},
		reply{status: 200, body: `{"messages":[],"links":[]}`})
	owner := f.client(WithProjectID("p1"))
	ctx := context.Background()
	exp := time.Date(2030, 1, 2, 4, 4, 5, 0, time.FixedZone("x", 3600))
	su, err := owner.ShareQueue(ctx, "q", []string{"messages", "claims"}, []string{"GET", "POST"}, exp)
	if err != nil {
		t.Fatal(err)
	}
	want := &SignedURL{Project: "p1", Paths: []string{"/v2/queues/q/claims", "/v2/queues/q/messages"},
		Methods: []string{"GET", "POST"}, Expires: "2030-01-02T03:04:05", Signature: "abc123"}
	if !reflect.DeepEqual(su, want) {
		t.Errorf("signed url = %+v", su)
	}
	guest := New(f.srv.URL, su.Options()...)
	if _, err := guest.ListMessages(ctx, "q", ListMessagesOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "POST", "/v2/queues/q/share", "",
		`{"expires":"2030-01-02T03:04:05Z","methods":["GET","POST"],"paths":["messages","claims"]}`)
	rs[1].want(t, "GET", "/v2/queues/q/messages", "", "")
	for k, v := range map[string]string{"URL-Signature": "abc123", "URL-Expires": "2030-01-02T03:04:05",
		"URL-Methods": "GET,POST", "URL-Paths": "/v2/queues/q/claims,/v2/queues/q/messages", HeaderProjectID: "p1"} {
		if got := rs[1].Header.Get(k); got != v {
			t.Errorf("guest %s = %q, want %q", k, got, v)
		}
	}
}

func TestShareQueueDefaults(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"project":"default","paths":["/v2/queues/q/messages"],"methods":["GET"],"expires":"x","signature":"s"}`})
	if _, err := f.client().ShareQueue(context.Background(), "q", nil, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "POST", "/v2/queues/q/share", "", `{}`)
}
