package fsm

import (
	"bytes"
	"strings"
	"testing"
)

func (h *harness) topicPost(t, sender, user string, msgs ...NewMessage) *Result {
	h.tb.Helper()
	return h.apply(CmdTopicMessagesPost, "", &TopicMessagesPost{Project: prj, Topic: t, SenderProject: sender, SenderUser: user, Messages: msgs})
}

func (h *harness) topicList(t string) (page []Message) {
	h.f.Read(func(s *State) { page, _ = s.ListTopicMessages(prj, t, "", 100, h.now) })
	return page
}

func (h *harness) topicSub(t, subscriber, fromProject, user string) *Result {
	h.tb.Helper()
	return h.apply(CmdSubscriptionCreate, "", &SubscriptionCreate{Project: prj, SourceKind: SourceTopic, Source: t,
		Subscriber: subscriber, TTL: 600, SubscriberProject: fromProject, SubscriberUser: user})
}

func TestTopicCRUD(t *testing.T) {
	h := newHarness(t, Config{})
	if r := h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "t", Metadata: metaOf(t, `{"a": 1, "_allowed_sending_projects": ["p2"]}`)}); !r.Created {
		t.Fatal("not created")
	}
	if r := h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "t", Metadata: metaOf(t, `{"b": 1}`)}); r.Created {
		t.Fatal("created twice")
	}
	h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "s"})
	h.ok(CmdTopicCreate, &TopicCreate{Project: "other", Topic: "a"})
	for _, bad := range []string{`{"_allowed_sending_users": "u1"}`, `{"_allowed_subscribe_projects": [1]}`,
		`{"_allowed_subscribe_protocols": ["sms"]}`, `{"_default_message_ttl": 5}`} {
		h.fails(CodeBadRequest, "", CmdTopicCreate, &TopicCreate{Project: prj, Topic: "bad", Metadata: metaOf(t, bad)})
	}
	var ti TopicInfo
	var list []TopicInfo
	h.f.Read(func(s *State) {
		ti, _ = s.Topic(prj, "t")
		list = s.ListTopics(prj, QueueListOptions{})
	})
	if string(ti.Metadata["a"]) != "1" || ti.Metadata["b"] != nil || len(list) != 2 || list[0].Name != "s" || list[1].Name != "t" {
		t.Fatalf("topic %+v list %+v", ti, list)
	}
	h.f.Read(func(s *State) {
		list = s.ListTopics(prj, QueueListOptions{Marker: "s", Filters: map[string]string{"a": "1"}})
	})
	if len(list) != 1 || list[0].Name != "t" {
		t.Fatalf("filtered %+v", list)
	}
	// PATCH: ACL keys are lenient for replace, other unknown keys are not.
	r := h.ok(CmdTopicPatch, &TopicPatch{Project: prj, Topic: "t", Ops: []PatchOp{
		{Op: "replace", Key: KeyAllowedSubscribeProtocols, Value: []byte(`["email"]`)},
		{Op: "remove", Key: KeyAllowedSendingUsers}}})
	if string(r.Metadata[KeyAllowedSubscribeProtocols]) != `["email"]` {
		t.Fatalf("patched %v", r.Metadata)
	}
	h.fails(CodeConflict, "non-existent", CmdTopicPatch, &TopicPatch{Project: prj, Topic: "t", Ops: []PatchOp{{Op: "replace", Key: "zz", Value: []byte(`1`)}}})
	h.fails(CodeBadRequest, "list of strings", CmdTopicPatch, &TopicPatch{Project: prj, Topic: "t", Ops: []PatchOp{{Op: "add", Key: KeyAllowedSendingProjects, Value: []byte(`{}`)}}})
	h.fails(CodeNotFound, "does not exist", CmdTopicPatch, &TopicPatch{Project: prj, Topic: "nope", Ops: []PatchOp{{Op: "add", Key: "x", Value: []byte(`1`)}}})
	// Topics and queues are separate namespaces.
	h.createQueue("t", "")
	h.ok(CmdTopicDelete, &TopicDelete{Project: prj, Topic: "t"})
	h.ok(CmdTopicDelete, &TopicDelete{Project: prj, Topic: "t"})
	if _, ok := h.queueInfo("t"); !ok {
		t.Fatal("topic delete removed the queue")
	}
	h.f.Read(func(s *State) { _, ok := s.Topic(prj, "t"); list = s.ListTopics(prj, QueueListOptions{}); _ = ok })
	if len(list) != 1 {
		t.Fatalf("after delete: %+v", list)
	}
	checkInvariants(t, h.f)
}

func TestTopicMessagesRetainedWithoutSubscribers(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.topicPost("t", "", "", body(`1`), NewMessage{Body: []byte(`2`), TTL: i64(60)}).IDs // lazily created
	if len(ids) != 2 {
		t.Fatal("post failed")
	}
	if got := idsOf(h.topicList("t")); !sameStrings(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
	var st Stats
	var exists bool
	h.f.Read(func(s *State) { st, exists = s.TopicStats(prj, "t", h.now) })
	if !exists || st.Total != 2 || st.Oldest.ID != ids[0] || st.Newest.ID != ids[1] {
		t.Fatalf("stats %+v", st)
	}
	var got []Message
	h.f.Read(func(s *State) { got = s.GetTopicMessages(prj, "t", []string{ids[1], "x", ids[1]}, h.now) })
	if len(got) != 1 || string(got[0].Body) != "2" || got[0].TTL != 60 {
		t.Fatalf("get %+v", got)
	}
	// Paging by marker.
	var page []Message
	var next string
	h.f.Read(func(s *State) { page, next = s.ListTopicMessages(prj, "t", "", 1, h.now) })
	h.f.Read(func(s *State) { page, _ = s.ListTopicMessages(prj, "t", next, 1, h.now) })
	if len(page) != 1 || page[0].ID != ids[1] {
		t.Fatalf("second page %+v", page)
	}
	// TTL sweep.
	h.tick(61)
	if got := idsOf(h.topicList("t")); len(got) != 1 {
		t.Fatalf("expired still listed: %v", got)
	}
	h.ok(CmdSweep, &Sweep{})
	h.f.Read(func(s *State) { st, _ = s.TopicStats(prj, "t", h.now) })
	if st.Total != 1 || h.f.st.outboxBytes != 1 {
		t.Fatalf("after sweep %+v, %d bytes", st, h.f.st.outboxBytes)
	}
	// Delete by id.
	h.ok(CmdTopicMessagesDelete, &TopicMessagesDelete{Project: prj, Topic: "t", IDs: []string{ids[0], "bogus"}})
	if len(h.topicList("t")) != 0 || h.f.BodyBytes() != 0 {
		t.Fatal("delete left messages")
	}
	checkInvariants(t, h.f)
}

func TestTopicGCAfterAllSubscriptionsAck(t *testing.T) {
	h := newHarness(t, Config{})
	early := h.topicPost("t", "", "", body(`0`)).IDs
	a := h.topicSub("t", "http://a", "", "").SubscriptionID
	// Messages posted before the first subscription are behind every cursor.
	if len(h.topicList("t")) != 0 {
		t.Fatalf("pre-subscription message %v still listed", early)
	}
	b := h.topicSub("t", "http://b", "p2", "").SubscriptionID
	h.assign(1, Assignment{a, "n1"}, Assignment{b, "n2"})
	ids := h.topicPost("t", "", "", body(`1`), body(`2`), body(`3`)).IDs
	var tail uint64
	h.f.Read(func(s *State) { tail = s.OutboxTail(prj, SourceTopic, "t") })
	h.ok(CmdAck, &Ack{SubscriptionID: a, Owner: "n1", Epoch: 1, Cursor: tail, Delivered: 3})
	if got := idsOf(h.topicList("t")); !sameStrings(got, ids) {
		t.Fatalf("one slow subscription: listed %v", got)
	}
	h.ok(CmdAck, &Ack{SubscriptionID: b, Owner: "n2", Epoch: 1, Cursor: tail - 1, Delivered: 2})
	if got := idsOf(h.topicList("t")); !sameStrings(got, ids[2:]) {
		t.Fatalf("listed %v, want %v", got, ids[2:])
	}
	h.ok(CmdAck, &Ack{SubscriptionID: b, Owner: "n2", Epoch: 1, Cursor: tail, Delivered: 1})
	if len(h.topicList("t")) != 0 || h.f.BodyBytes() != 0 {
		t.Fatal("acknowledged messages kept")
	}
	// Removing every subscription keeps the topic's source and new posts.
	h.ok(CmdTopicPurge, &TopicPurge{Project: prj, Topic: "t", Subscriptions: true})
	h.topicPost("t", "", "", body(`4`))
	if len(h.topicList("t")) != 1 {
		t.Fatal("topic without subscriptions lost a message")
	}
	h.ok(CmdTopicPurge, &TopicPurge{Project: prj, Topic: "t", Messages: true})
	if len(h.topicList("t")) != 0 || h.f.BodyBytes() != 0 {
		t.Fatal("purge kept messages")
	}
	checkInvariants(t, h.f)
}

func TestTopicDeleteKeepsSubscriptions(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.topicSub("t", "http://a", "", "").SubscriptionID
	h.topicPost("t", "", "", body(`1`))
	h.ok(CmdTopicDelete, &TopicDelete{Project: prj, Topic: "t"})
	if h.f.BodyBytes() != 0 {
		t.Fatal("delete kept messages")
	}
	var si SubscriptionInfo
	var ok bool
	h.f.Read(func(s *State) { si, ok = s.Subscription(prj, SourceTopic, "t", a, h.now) })
	if !ok || si.Pending != 1 {
		t.Fatalf("subscription after delete: %v %+v", ok, si)
	}
	// Re-created by a post, the topic feeds the old subscription again.
	h.topicPost("t", "", "", body(`2`))
	h.f.Read(func(s *State) { si, _ = s.Subscription(prj, SourceTopic, "t", a, h.now) })
	if si.Pending != 2 || len(h.topicList("t")) != 1 {
		t.Fatalf("pending %d", si.Pending)
	}
	// Without subscriptions, deleting the topic drops its source.
	h.ok(CmdSubscriptionDelete, &SubscriptionDelete{Project: prj, SourceKind: SourceTopic, Source: "t", ID: a})
	h.ok(CmdTopicDelete, &TopicDelete{Project: prj, Topic: "t"})
	if len(h.f.st.sources) != 0 {
		t.Fatal("source survived its topic")
	}
	checkInvariants(t, h.f)
}

func TestTopicACL(t *testing.T) {
	h := newHarness(t, Config{})
	// Another project cannot create a topic lazily.
	h.fails(CodeNotFound, "does not exist", CmdTopicMessagesPost, &TopicMessagesPost{Project: prj, Topic: "t", SenderProject: "p2", Messages: []NewMessage{body(`1`)}})
	if r := h.topicSub("t", "http://a", "p2", ""); r.Code != CodeNotFound {
		t.Fatalf("foreign lazy subscribe: %+v", r)
	}
	h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "t"})
	// Defaults: only the owner sends; everybody subscribes with webhook/email.
	if r := h.topicPost("t", "p2", "u2"); r.Code != CodeBadRequest && r.Code != CodeForbidden {
		t.Fatalf("empty post: %+v", r)
	}
	r := h.topicPost("t", "p2", "u2", body(`1`))
	if r.Code != CodeForbidden || !strings.Contains(r.Msg, `"p2"`) || !strings.Contains(r.Msg, KeyAllowedSendingProjects) {
		t.Fatalf("foreign send: %+v", r)
	}
	if r := h.topicPost("t", prj, "anyone", body(`1`)); r.Code != CodeOK {
		t.Fatalf("owner send: %+v", r)
	}
	if r := h.topicSub("t", "mailto:x@y", "p3", "u3"); r.Code != CodeOK {
		t.Fatalf("default subscribe: %+v", r)
	}
	h.ok(CmdTopicPatch, &TopicPatch{Project: prj, Topic: "t", Ops: []PatchOp{
		{Op: "add", Key: KeyAllowedSendingProjects, Value: []byte(`["p2"]`)},
		{Op: "add", Key: KeyAllowedSendingUsers, Value: []byte(`["u9"]`)},
		{Op: "add", Key: KeyAllowedSubscribeProjects, Value: []byte(`["p2"]`)},
		{Op: "add", Key: KeyAllowedSubscribeUsers, Value: []byte(`["u4"]`)},
		{Op: "add", Key: KeyAllowedSubscribeProtocols, Value: []byte(`["webhook"]`)},
	}})
	cases := []struct {
		name          string
		project, user string
		send          Code
	}{
		{"listed project", "p2", "", CodeOK},
		{"listed user", "p5", "u9", CodeOK},
		{"owner", prj, "", CodeOK},
		{"unlisted", "p5", "u5", CodeForbidden},
	}
	for _, c := range cases {
		if r := h.topicPost("t", c.project, c.user, body(`1`)); r.Code != c.send {
			t.Errorf("send %s: %+v", c.name, r)
		}
	}
	subCases := []struct {
		name, subscriber, project, user string
		want                            Code
		msg                             string
	}{
		{"listed project", "http://a", "p2", "", CodeOK, ""},
		{"listed user", "http://b", "p6", "u4", CodeOK, ""},
		{"unlisted project", "http://c", "p6", "u6", CodeForbidden, KeyAllowedSubscribeProjects},
		{"protocol", "mailto:a@b", "p2", "", CodeForbidden, `Protocol "email"`},
		{"owner protocol", "mailto:a@b", "", "", CodeForbidden, KeyAllowedSubscribeProtocols},
		{"owner", "http://d", "", "", CodeOK, ""},
	}
	for _, c := range subCases {
		r := h.topicSub("t", c.subscriber, c.project, c.user)
		if r.Code != c.want || !strings.Contains(r.Msg, c.msg) {
			t.Errorf("subscribe %s: %+v", c.name, r)
		}
	}
	// The same subscriber from another project is a conflict, not a leak.
	if r := h.topicSub("t", "http://a", "", ""); r.Code != CodeConflict {
		t.Fatalf("cross-project duplicate: %+v", r)
	}
	var mine, all []SubscriptionInfo
	h.f.Read(func(s *State) {
		mine = s.ListSubscriptionsBy(prj, SourceTopic, "t", "p2", "", 10, h.now)
		all = s.ListSubscriptions(prj, SourceTopic, "t", "", 10, h.now)
	})
	if len(mine) != 1 || mine[0].SubscriberProject != "p2" || mine[0].Project != prj || len(all) != 4 {
		t.Fatalf("mine %+v, all %d", mine, len(all))
	}
	// PATCHing a subscriber to a refused protocol is refused.
	h.fails(CodeForbidden, "Protocol", CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceTopic, Source: "t",
		ID: mine[0].ID, Subscriber: strPtr("mailto:z@z")})
	checkInvariants(t, h.f)
}

func strPtr(s string) *string { return &s }

func TestTopicSnapshotAndDigest(t *testing.T) {
	h := newHarness(t, Config{})
	before := h.f.Digest()
	h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "t", Metadata: metaOf(t, `{"_allowed_sending_projects": ["p2"]}`)})
	if h.f.Digest() == before {
		t.Fatal("topic not digested")
	}
	h.ok(CmdTopicCreate, &TopicCreate{Project: prj, Topic: "empty"})
	h.topicPost("t", "p2", "", body(`{"a":1}`), body(`2`))
	h.topicSub("t", "http://a", "p2", "")
	h.topicPost("t", "", "", body(`3`))
	g := New(Config{})
	snap := restoreInto(t, h.f, g)
	checkInvariants(t, g)
	if g.Digest() != h.f.Digest() {
		t.Fatal("digest differs after restore")
	}
	if again := restoreInto(t, g, New(Config{})); !bytes.Equal(snap, again) {
		t.Fatal("snapshot bytes differ")
	}
	var page []Message
	var subs []SubscriptionInfo
	g.Read(func(s *State) {
		page, _ = s.ListTopicMessages(prj, "t", "", 10, h.now)
		subs = s.ListSubscriptionsBy(prj, SourceTopic, "t", "p2", "", 10, h.now)
	})
	if len(page) != 1 || len(subs) != 1 {
		t.Fatalf("restored %d messages, %d subscriptions", len(page), len(subs))
	}
	// Both keep going in lockstep.
	for _, f := range []*FSM{h.f, g} {
		f.ApplyEntry(h.index+1, encodeEntry(t, CmdTopicMessagesPost, h.now, "", &TopicMessagesPost{Project: prj, Topic: "empty", Messages: []NewMessage{body(`9`)}}))
		f.ApplyEntry(h.index+2, encodeEntry(t, CmdTopicDelete, h.now, "", &TopicDelete{Project: prj, Topic: "t"}))
	}
	if g.Digest() != h.f.Digest() {
		t.Fatal("diverged after restore")
	}
}
