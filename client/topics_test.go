package client

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestTopicCRUD(t *testing.T) {
	f := newFake(t,
		reply{status: 201, header: map[string]string{"Location": "/v2/topics/t%201"}},
		reply{status: 204},
		reply{status: 200, body: `{"_default_message_ttl":3600,"_allowed_sending_projects":["p2"]}`},
		reply{status: 200, body: `{"a":1}`},
		reply{status: 204})
	c := f.client()
	ctx := context.Background()
	if created, err := c.CreateTopic(ctx, "t 1", map[string]any{"_allowed_sending_projects": []string{"p2"}}); err != nil || !created {
		t.Fatalf("created=%v err=%v, want true", created, err)
	}
	if created, err := c.CreateTopic(ctx, "t", nil); err != nil || created {
		t.Fatalf("created=%v err=%v, want false (204)", created, err)
	}
	md, err := c.GetTopic(ctx, "t")
	if err != nil || !reflect.DeepEqual(md, map[string]any{"_default_message_ttl": 3600.0, "_allowed_sending_projects": []any{"p2"}}) {
		t.Fatalf("GetTopic = %v, %v", md, err)
	}
	md, err = c.PatchTopic(ctx, "t", []PatchOp{PatchAdd("a", 1), PatchRemove("allowed_sending_projects")})
	if err != nil || !reflect.DeepEqual(md, map[string]any{"a": 1.0}) {
		t.Fatalf("PatchTopic = %v, %v", md, err)
	}
	if err := c.DeleteTopic(ctx, "t/x"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "PUT", "/v2/topics/t%201", "", `{"_allowed_sending_projects":["p2"]}`)
	rs[1].want(t, "PUT", "/v2/topics/t", "", "")
	rs[2].want(t, "GET", "/v2/topics/t", "", "")
	rs[3].want(t, "PATCH", "/v2/topics/t", "",
		`[{"op":"add","path":"/metadata/a","value":1},{"op":"remove","path":"/metadata/allowed_sending_projects"}]`)
	if ct := rs[3].Header.Get("Content-Type"); ct != ContentTypeJSONPatch {
		t.Errorf("PATCH Content-Type = %q", ct)
	}
	rs[4].want(t, "DELETE", "/v2/topics/t%2Fx", "", "")
}

func TestPatchTopicNilOps(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{}`})
	if _, err := f.client().PatchTopic(context.Background(), "t", nil); err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "PATCH", "/v2/topics/t", "", `[]`)
}

func TestGetTopicNotFound(t *testing.T) {
	f := newFake(t, reply{status: 404, body: `{"title":"Not found","description":"Topic t does not exist."}`})
	_, err := f.client().GetTopic(context.Background(), "t")
	if !IsStatus(err, 404) {
		t.Fatalf("err %v, want a 404", err)
	}
}

func TestListTopics(t *testing.T) {
	f := newFake(t,
		reply{status: 200, body: `{"topics":[{"name":"a","href":"/v2/topics/a","metadata":{"k":"v"}},` +
			`{"name":"b","href":"/v2/topics/b","metadata":{}}],` +
			`"links":[{"rel":"next","href":"/v2/topics?limit=2&detailed=true&name=x&marker=b"}]}`},
		reply{status: 200, body: `{"topics":[],"links":[]}`},
		reply{status: 204})
	c := f.client()
	ctx := context.Background()
	page, err := c.ListTopics(ctx, ListTopicsOptions{Marker: "a 0", Limit: 2, Detailed: true, Name: "x",
		Filters: map[string]string{"z": "1", "color": "red"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &TopicPage{Topics: []Topic{{Name: "a", Href: "/v2/topics/a", Metadata: map[string]any{"k": "v"}},
		{Name: "b", Href: "/v2/topics/b", Metadata: map[string]any{}}}, Next: "b"}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("page = %+v\nwant   %+v", page, want)
	}
	for range 2 {
		page, err = c.ListTopics(ctx, ListTopicsOptions{})
		if err != nil || page.Topics == nil || len(page.Topics) != 0 || page.Next != "" {
			t.Fatalf("empty page = %+v, %v", page, err)
		}
	}
	rs := f.requests()
	rs[0].want(t, "GET", "/v2/topics", "marker=a+0&limit=2&detailed=true&name=x&color=red&z=1", "")
	rs[1].want(t, "GET", "/v2/topics", "", "")
}

func TestListTopicsBadAnswer(t *testing.T) {
	for _, body := range []string{`not json`, `{"topics":{}}`, `{"topics":[],"links":5}`} {
		f := newFake(t, reply{status: 200, body: body})
		if page, err := f.client().ListTopics(context.Background(), ListTopicsOptions{}); err == nil {
			t.Errorf("body %q: page %+v, want an error", body, page)
		}
	}
}

func TestTopicStatsAndPurge(t *testing.T) {
	f := newFake(t,
		reply{status: 200, body: `{"messages":{"total":2,` +
			`"oldest":{"href":"/v2/topics/t/messages/m1","age":5,"created":"2024-01-02T03:04:05Z"},` +
			`"newest":{"href":"/v2/topics/t/messages/m2","age":1,"created":"2024-01-02T03:04:09Z"}}}`},
		reply{status: 204})
	c := f.client()
	ctx := context.Background()
	st, err := c.TopicStats(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	want := &QueueStats{Total: 2,
		Oldest: &MessageStat{Href: "/v2/topics/t/messages/m1", Age: 5, Created: "2024-01-02T03:04:05Z"},
		Newest: &MessageStat{Href: "/v2/topics/t/messages/m2", Age: 1, Created: "2024-01-02T03:04:09Z"}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats = %+v", st)
	}
	if err := c.PurgeTopic(ctx, "t", "messages"); err != nil {
		t.Fatal(err)
	}
	if err := c.PurgeTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "GET", "/v2/topics/t/stats", "", "")
	rs[1].want(t, "POST", "/v2/topics/t/purge", "", `{"resource_types":["messages"]}`)
	rs[2].want(t, "POST", "/v2/topics/t/purge", "", "")
}

func TestPostTopicMessages(t *testing.T) {
	f := newFake(t, reply{status: 201, body: `{"resources":["/v2/topics/t/messages/m1","/v2/topics/t/messages/m2"]}`})
	c := f.client()
	ctx := context.Background()
	delay := 0
	ids, err := c.PostTopicMessages(ctx, "t", []NewMessage{{Body: map[string]int{"order": 1}, TTL: 600}, {Body: "x", Delay: &delay}}, "")
	if err != nil || !reflect.DeepEqual(ids, []string{"m1", "m2"}) {
		t.Fatalf("ids %v err %v", ids, err)
	}
	if _, err := c.PostTopicMessages(ctx, "t", nil, "owner p"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "POST", "/v2/topics/t/messages", "", `{"messages":[{"body":{"order":1},"ttl":600},{"body":"x","delay":0}]}`)
	rs[1].want(t, "POST", "/v2/topics/t/messages", "topic_project=owner+p", `{"messages":[]}`)
}

func TestListTopicMessages(t *testing.T) {
	f := newFake(t,
		reply{status: 200, body: `{"messages":[{"id":"m1","href":"/v2/topics/t/messages/m1","ttl":60,"age":2,"body":{"a":1}},` +
			`{"href":"/v2/topics/t/messages/m2","ttl":60,"age":1,"body":null}],` +
			`"links":[{"rel":"next","href":"/v2/topics/t/messages?limit=2&marker=7"}]}`},
		reply{status: 200, body: `{"messages":[],"links":[]}`})
	c := f.client()
	ctx := context.Background()
	page, err := c.ListTopicMessages(ctx, "t", "5", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].ID != "m1" || string(page.Messages[0].Body) != `{"a":1}` ||
		page.Messages[1].ID != "m2" || page.Messages[1].ClaimID != "" || page.Next != "7" {
		t.Errorf("page = %+v", page)
	}
	page, err = c.ListTopicMessages(ctx, "t", "", 0)
	if err != nil || page.Messages == nil || len(page.Messages) != 0 || page.Next != "" {
		t.Fatalf("empty page = %+v, %v", page, err)
	}
	rs := f.requests()
	rs[0].want(t, "GET", "/v2/topics/t/messages", "marker=5&limit=2", "")
	rs[1].want(t, "GET", "/v2/topics/t/messages", "", "")
}

func TestTopicMessagesByID(t *testing.T) {
	f := newFake(t,
		reply{status: 200, body: `{"messages":[{"id":"m1","href":"/v2/topics/t/messages/m1","ttl":60,"age":0,"body":1}]}`},
		reply{status: 204})
	c := f.client()
	ctx := context.Background()
	msgs, err := c.GetTopicMessages(ctx, "t", []string{"m1", "m 2"})
	if err != nil || len(msgs) != 1 || msgs[0].ID != "m1" {
		t.Fatalf("msgs %+v err %v", msgs, err)
	}
	if err := c.DeleteTopicMessages(ctx, "t", []string{"m1", "m2"}); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "GET", "/v2/topics/t/messages", "ids=m1,m+2", "")
	rs[1].want(t, "DELETE", "/v2/topics/t/messages", "ids=m1,m2", "")
	if _, err := c.GetTopicMessages(ctx, "t", nil); !errors.Is(err, errNoIDs) {
		t.Errorf("GetTopicMessages(nil) err %v", err)
	}
	if err := c.DeleteTopicMessages(ctx, "t", []string{}); !errors.Is(err, errNoIDs) {
		t.Errorf("DeleteTopicMessages([]) err %v", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("server got %d requests, want 2", n)
	}
}

func TestTopicSubscriptions(t *testing.T) {
	f := newFake(t,
		reply{status: 201, body: `{"subscription_id":"s1"}`},
		reply{status: 201, body: `{"subscription_id":"s2"}`},
		reply{status: 200, body: `{"subscriptions":[{"id":"s2","source":"t","subscriber":"https://a.example/in",` +
			`"ttl":3600,"age":3,"options":{},"confirmed":false}],` +
			`"links":[{"rel":"next","href":"/v2/topics/t/subscriptions?topic_project=owner&marker=s2&limit=1"}]}`},
		reply{status: 200, body: `{"subscriptions":[],"links":[]}`},
		reply{status: 204})
	c := f.client()
	ctx := context.Background()
	id, err := c.CreateTopicSubscription(ctx, "t", "https://h.example/hook", 600, map[string]any{"k": "v"}, "")
	if err != nil || id != "s1" {
		t.Fatalf("id %q err %v", id, err)
	}
	id, err = c.CreateTopicSubscription(ctx, "t", "https://a.example/in", 0, nil, "owner")
	if err != nil || id != "s2" {
		t.Fatalf("id %q err %v", id, err)
	}
	page, err := c.ListTopicSubscriptions(ctx, "t", "s1", 1, "owner")
	if err != nil {
		t.Fatal(err)
	}
	want := &SubscriptionPage{Subscriptions: []Subscription{{ID: "s2", Source: "t", Subscriber: "https://a.example/in",
		TTL: 3600, Age: 3, Options: map[string]any{}}}, Next: "s2"}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("page = %+v\nwant   %+v", page, want)
	}
	page, err = c.ListTopicSubscriptions(ctx, "t", "", 0, "")
	if err != nil || page.Subscriptions == nil || len(page.Subscriptions) != 0 || page.Next != "" {
		t.Fatalf("empty page = %+v, %v", page, err)
	}
	if err := c.DeleteTopicSubscription(ctx, "t", "s2", "owner"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopicSubscription(ctx, "t", "s/1", ""); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "POST", "/v2/topics/t/subscriptions", "",
		`{"options":{"k":"v"},"subscriber":"https://h.example/hook","ttl":600}`)
	rs[1].want(t, "POST", "/v2/topics/t/subscriptions", "topic_project=owner", `{"subscriber":"https://a.example/in"}`)
	rs[2].want(t, "GET", "/v2/topics/t/subscriptions", "topic_project=owner&marker=s1&limit=1", "")
	rs[3].want(t, "GET", "/v2/topics/t/subscriptions", "", "")
	rs[4].want(t, "DELETE", "/v2/topics/t/subscriptions/s2", "topic_project=owner", "")
	rs[5].want(t, "DELETE", "/v2/topics/t/subscriptions/s%2F1", "", "")
}

func TestCreateTopicSubscriptionErrors(t *testing.T) {
	f := newFake(t, reply{status: 403, body: `{"title":"Not authorized","description":"Project p is not in _allowed_subscribe_projects."}`})
	_, err := f.client().CreateTopicSubscription(context.Background(), "t", "http://h/", 0, nil, "owner")
	var e *Error
	if !errors.As(err, &e) || e.Status != 403 || e.Title != "Not authorized" || e.Path != "/v2/topics/t/subscriptions" {
		t.Fatalf("err %+v, want a 403 *Error", err)
	}
	for _, body := range []string{`{}`, ``, `not json`} {
		f := newFake(t, reply{status: 201, body: body})
		if id, err := f.client().CreateTopicSubscription(context.Background(), "t", "http://h/", 0, nil, ""); err == nil {
			t.Errorf("body %q: id %q, want an error", body, id)
		}
	}
}
