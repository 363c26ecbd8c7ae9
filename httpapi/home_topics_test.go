package httpapi

import (
	"reflect"
	"strings"
	"testing"
)

// TestHomeTopicRels: the JSON-home document lists the topic rels in the
// queue rels' shape (href-template, href-vars, hints.allow, hints.formats).
func TestHomeTopicRels(t *testing.T) {
	e := newFakeEnv(t)
	res := e.get("/v2/").expect(200).obj()["resources"].(map[string]any)
	tn := map[string]any{"topic_name": "param/topic_name"}
	with := func(kv ...string) map[string]any {
		out := map[string]any{"topic_name": "param/topic_name"}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, c := range []struct {
		rel, template string
		vars          map[string]any
		allow         []any
		acceptPost    bool
	}{
		{"rel/topics", "/v2/topics{?marker,limit,detailed}",
			map[string]any{"marker": "param/marker", "limit": "param/topic_limit", "detailed": "param/detailed"},
			[]any{"GET"}, false},
		{"rel/topic", "/v2/topics/{topic_name}", tn, []any{"PUT", "GET", "PATCH", "DELETE"}, false},
		{"rel/topic_stats", "/v2/topics/{topic_name}/stats", tn, []any{"GET"}, false},
		{"rel/topic_purge", "/v2/topics/{topic_name}/purge", tn, []any{"POST"}, false},
		{"rel/topic_messages", "/v2/topics/{topic_name}/messages{?marker,limit}",
			with("marker", "param/marker", "limit", "param/messages_limit"), []any{"GET"}, false},
		{"rel/topic_post_messages", "/v2/topics/{topic_name}/messages{?topic_project}",
			with("topic_project", "param/topic_project"), []any{"POST"}, true},
		{"rel/topic_subscriptions_get", "/v2/topics/{topic_name}/subscriptions{?marker,limit,topic_project}",
			with("marker", "param/marker", "limit", "param/subscription_limit", "topic_project", "param/topic_project"),
			[]any{"GET"}, false},
		{"rel/topic_subscriptions_post", "/v2/topics/{topic_name}/subscriptions{?topic_project}",
			with("topic_project", "param/topic_project"), []any{"POST"}, true},
	} {
		r, ok := res[c.rel].(map[string]any)
		if !ok {
			t.Errorf("home lacks %s", c.rel)
			continue
		}
		tmpl, _ := r["href-template"].(string)
		if !strings.HasPrefix(tmpl, "/v2") || tmpl != c.template {
			t.Errorf("%s href-template %q, want %q", c.rel, tmpl, c.template)
		}
		if !reflect.DeepEqual(r["href-vars"], c.vars) {
			t.Errorf("%s href-vars %v, want %v", c.rel, r["href-vars"], c.vars)
		}
		if got := path(r, "hints", "allow"); !reflect.DeepEqual(got, c.allow) {
			t.Errorf("%s hints.allow %v, want %v", c.rel, got, c.allow)
		}
		if got := path(r, "hints", "formats"); !reflect.DeepEqual(got, map[string]any{"application/json": map[string]any{}}) {
			t.Errorf("%s hints.formats %v", c.rel, got)
		}
		var wantAccept any
		if c.acceptPost {
			wantAccept = []any{"application/json"}
		}
		if got := path(r, "hints", "accept-post"); !reflect.DeepEqual(got, wantAccept) {
			t.Errorf("%s hints.accept-post %v, want %v", c.rel, got, wantAccept)
		}
		// Every variable of the template is described in href-vars.
		for _, v := range templateVars(tmpl) {
			if _, ok := r["href-vars"].(map[string]any)[v]; !ok {
				t.Errorf("%s: template variable %s not in href-vars", c.rel, v)
			}
		}
	}
}

// templateVars returns the variable names of a URI template
// ("/a/{x}{?y,z}" -> x, y, z).
func templateVars(tmpl string) []string {
	var out []string
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl, '}')
		if i < 0 || j < i {
			return out
		}
		out = append(out, strings.Split(strings.TrimLeft(tmpl[i+1:j], "?&"), ",")...)
		tmpl = tmpl[j+1:]
	}
}
