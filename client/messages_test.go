package client

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func TestPostMessages(t *testing.T) {
	f := newFake(t, reply{status: 201,
		header: map[string]string{"Location": "/v2/queues/q/messages?ids=m1,m2,m3"},
		body:   `{"resources":["/v2/queues/q/messages/m1","/v2/queues/q/messages/m2","/v2/queues/q/messages/m3"]}`})
	delay := 0
	ids, err := f.client().PostMessages(context.Background(), "q", []NewMessage{
		{Body: map[string]any{"event": "x"}, TTL: 300},
		{Body: json.RawMessage(`[1, 2]`), Delay: &delay},
		{Body: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "POST", "/v2/queues/q/messages", "",
		`{"messages":[{"body":{"event":"x"},"ttl":300},{"body":[1,2],"delay":0},{"body":null}]}`)
	if !reflect.DeepEqual(ids, []string{"m1", "m2", "m3"}) {
		t.Errorf("ids = %v", ids)
	}
}

const listBody = `{"messages":[` +
	`{"id":"m1","href":"/v2/queues/q/messages/m1","ttl":300,"age":4,"body":{"event":"x"}},` +
	`{"id":"m2","href":"/v2/queues/q/messages/m2?claim_id=c9","ttl":360,"age":2,"body":"hi","checksum":"MD5:ab"}],` +
	`"links":[{"rel":"next","href":"/v2/queues/q/messages?marker=17&limit=2&echo=true"}]}`

var listWant = []Message{
	{ID: "m1", Href: "/v2/queues/q/messages/m1", TTL: 300, Age: 4, Body: json.RawMessage(`{"event":"x"}`)},
	{ID: "m2", Href: "/v2/queues/q/messages/m2?claim_id=c9", TTL: 360, Age: 2, Body: json.RawMessage(`"hi"`),
		ClaimID: "c9", Checksum: "MD5:ab"},
}

func TestListMessages(t *testing.T) {
	f := newFake(t, reply{status: 200, body: listBody})
	page, err := f.client().ListMessages(context.Background(), "q", ListMessagesOptions{
		Marker: "5", Limit: 2, Echo: true, IncludeClaimed: true, IncludeDelayed: true})
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/messages", "marker=5&limit=2&echo=true&include_claimed=true&include_delayed=true", "")
	if !reflect.DeepEqual(page, &MessagePage{Messages: listWant, Next: "17"}) {
		t.Errorf("page = %+v", page)
	}
	var body map[string]string
	if err := page.Messages[0].DecodeBody(&body); err != nil || body["event"] != "x" {
		t.Errorf("DecodeBody = %v, %v", body, err)
	}
}

func TestListMessagesEmpty(t *testing.T) {
	for _, rp := range []reply{{status: 200, body: `{"messages":[],"links":[]}`}, {status: 204}} {
		f := newFake(t, rp)
		page, err := f.client().ListMessages(context.Background(), "q", ListMessagesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.only().want(t, "GET", "/v2/queues/q/messages", "", "")
		if page.Messages == nil || len(page.Messages) != 0 || page.Next != "" {
			t.Errorf("page = %+v", page)
		}
	}
}

func TestGetMessage(t *testing.T) {
	f := newFake(t, reply{status: 200,
		body: `{"id":"m2","href":"/v2/queues/q/messages/m2?claim_id=c9","ttl":360,"age":2,"body":"hi","checksum":"MD5:ab"}`})
	m, err := f.client().GetMessage(context.Background(), "q", "m2")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/messages/m2", "", "")
	if !reflect.DeepEqual(*m, listWant[1]) {
		t.Errorf("message = %+v", m)
	}
}

func TestGetMessages(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"messages":[` +
		`{"id":"m1","href":"/v2/queues/q/messages/m1","ttl":300,"age":4,"body":{"event":"x"}},` +
		`{"id":"m2","href":"/v2/queues/q/messages/m2?claim_id=c9","ttl":360,"age":2,"body":"hi","checksum":"MD5:ab"}]}`})
	c := f.client()
	msgs, err := c.GetMessages(context.Background(), "q", []string{"m1", "m2"})
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/messages", "ids=m1,m2", "")
	if !reflect.DeepEqual(msgs, listWant) {
		t.Errorf("messages = %+v", msgs)
	}
	if _, err := c.GetMessages(context.Background(), "q", nil); err == nil {
		t.Error("no error for empty ids")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("empty ids sent a request")
	}
}

func TestDeleteMessage(t *testing.T) {
	f := newFake(t)
	c := f.client()
	ctx := context.Background()
	if err := c.DeleteMessage(ctx, "q", "m1", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMessage(ctx, "q", "m1", "c9"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMessages(ctx, "q", []string{"m1", "m2", "m3"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMessages(ctx, "q", nil); err == nil {
		t.Error("no error for empty ids")
	}
	rs := f.requests()
	if len(rs) != 3 {
		t.Fatalf("%d requests", len(rs))
	}
	rs[0].want(t, "DELETE", "/v2/queues/q/messages/m1", "", "")
	rs[1].want(t, "DELETE", "/v2/queues/q/messages/m1", "claim_id=c9", "")
	rs[2].want(t, "DELETE", "/v2/queues/q/messages", "ids=m1,m2,m3", "")
}

func TestPopMessages(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"messages":[` +
		`{"id":"m1","age":3,"ttl":300,"body":{"n":1},"claim_id":null,"claim_count":0},` +
		`{"id":"m2","age":3,"ttl":300,"body":{"n":2},"claim_id":"old","claim_count":2}]}`},
		reply{status: 200, body: `{"messages":[]}`})
	c := f.client()
	msgs, err := c.PopMessages(context.Background(), "q", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{ID: "m1", TTL: 300, Age: 3, Body: json.RawMessage(`{"n":1}`)},
		{ID: "m2", TTL: 300, Age: 3, Body: json.RawMessage(`{"n":2}`), ClaimID: "old", ClaimCount: 2},
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("popped = %+v", msgs)
	}
	msgs, err = c.PopMessages(context.Background(), "q", 5)
	if err != nil || msgs == nil || len(msgs) != 0 {
		t.Errorf("empty pop = %v, %v", msgs, err)
	}
	rs := f.requests()
	rs[0].want(t, "DELETE", "/v2/queues/q/messages", "pop=2", "")
	rs[1].want(t, "DELETE", "/v2/queues/q/messages", "pop=5", "")
}

func TestMessageUnmarshal(t *testing.T) {
	cases := map[string]Message{
		`{"href":"/v2/queues/q/messages/abc?claim_id=c1","ttl":1,"age":0,"body":null}`: {ID: "abc",
			Href: "/v2/queues/q/messages/abc?claim_id=c1", TTL: 1, Body: json.RawMessage(`null`), ClaimID: "c1"},
		`{"id":"x","href":"http://h/v2/queues/q/messages/x","ttl":1,"age":0,"body":1}`: {ID: "x",
			Href: "http://h/v2/queues/q/messages/x", TTL: 1, Body: json.RawMessage(`1`)},
		`{"id":"x","ttl":1,"age":0,"body":1,"claim_id":"c2"}`: {ID: "x", TTL: 1, Body: json.RawMessage(`1`), ClaimID: "c2"},
	}
	for in, want := range cases {
		var m Message
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s\n got %+v\nwant %+v", in, m, want)
		}
	}
}
