package httpapi

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/herald-mq/herald/fsm"
)

// TestSubscriptionFilterPolicyValidation: options.filter_policy is checked
// with internal/filterpolicy on POST and PATCH (400 "Invalid API request"
// naming the problem and its path); null or absent means no filter; a
// valid policy is stored and returned verbatim.
func TestSubscriptionFilterPolicyValidation(t *testing.T) {
	e := newFSMEnv(t)
	bad := []struct{ policy, desc string }{
		{`"eu"`, "Invalid filter policy: filter_policy: must be a JSON object, got a string"},
		{`[]`, "filter_policy: must be a JSON object, got an array"},
		{`{"region": "eu"}`, `filter_policy.region: must be an array of conditions`},
		{`{"region": []}`, "filter_policy.region: must list at least one condition"},
		{`{"order": {"region": ["eu", {"prefx": "e"}]}}`, `filter_policy.order.region[1]: unknown operator "prefx"`},
		{`{"n": [{"numeric": [">", 20, "<", 10]}]}`, "filter_policy.n[0].numeric: the range is empty"},
		{`{"a": [{"exists": "yes"}]}`, "filter_policy.a[0].exists: must be true or false"},
		{`{"a":{"b":{"c":{"d":{"e":{"f":[1]}}}}}}`, "deeper than 5 levels"},
	}
	for _, c := range bad {
		body := `{"subscriber": "http://h/x", "options": {"filter_policy": ` + c.policy + `}}`
		e.post(subsPath, body).expectErr(400, titleInvalidAPI, c.desc)
	}
	if q := e.get("/v2/queues").obj()["queues"].([]any); len(q) != 0 {
		t.Fatalf("a refused subscription created the queue: %v", q)
	}

	policy := `{"order": {"region": ["eu"], "total": [{"numeric": [">=", 100]}]}, "id": [{"prefix": "ord-"}]}`
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1", "options": {"filter_policy": `+policy+`, "a": 1}}`)
	item := subsPath + "/" + id
	got := e.get(item).expect(200).obj()["options"].(map[string]any)
	if compactJSON(t, mustJSON(t, got["filter_policy"])) != compactJSON(t, policy) || got["a"] != float64(1) {
		t.Fatalf("stored options %v", got)
	}
	e.subscribe(subsPath, `{"subscriber": "http://h/2", "options": {"filter_policy": null}}`)
	e.subscribe(subsPath, `{"subscriber": "http://h/3", "options": {"filter_policy": {}}}`)

	// PATCH: refused policies leave the stored options untouched.
	for _, c := range bad {
		e.patchSub(item, `{"options": {"filter_policy": `+c.policy+`}}`).expectErr(400, titleInvalidAPI, c.desc)
	}
	if o := e.get(item).obj()["options"].(map[string]any); o["filter_policy"] == nil {
		t.Fatalf("a refused PATCH changed the options: %v", o)
	}
	e.patchSub(item, `{"options": {"filter_policy": {"tags": ["red", {"anything-but": ["spam"]}]}}}`).expect(204)
	e.patchSub(item, `{"options": {"filter_policy": null}}`).expect(204)
	e.patchSub(item, `{"options": {}}`).expect(204)
}

// TestTopicSubscriptionFilterPolicy: topic subscriptions share the
// validation (routes registered as in TestTopicSubscriptionRoutes).
func TestTopicSubscriptionFilterPolicy(t *testing.T) {
	clock := newFakeClock()
	b := &fsmBackend{f: fsm.New(fsm.Config{}), clock: clock}
	s := &server{backend: b, ops: fakeOps{}, key: testKey, log: slog.New(slog.DiscardHandler), now: clock.Now,
		timeout: time.Second}
	r := mux.NewRouter()
	for _, rt := range s.subscriptionRoutes(topicSubs) {
		r.Handle(rt.path, s.dispatch(rt))
	}
	e := &env{t: t, h: s.outer(r), clock: clock, fsmB: b}
	col := "/v2/topics/tp/subscriptions"
	e.post(col, `{"subscriber": "http://h/1", "options": {"filter_policy": {"a": [{"numeric": ["~", 1]}]}}}`).
		expectErr(400, titleInvalidAPI, `filter_policy.a[0].numeric[0]: unknown numeric operator "~"`)
	id := e.subscribe(col, `{"subscriber": "http://h/1", "options": {"filter_policy": {"a": [{"numeric": ["<", 1]}]}}}`)
	e.patchSub(col+"/"+id, `{"options": {"filter_policy": {"a": 1}}}`).
		expectErr(400, titleInvalidAPI, "filter_policy.a: must be an array of conditions")
	e.patchSub(col+"/"+id, `{"options": {"filter_policy": {"a": [1]}}}`).expect(204)
}
