package fsm

import (
	"encoding/json"
	"fmt"
)

// topicCommand returns one random topic command for TestDeterminism's
// workload: CRUD with ACL metadata (valid and not), posts from the owner
// and from other projects, deletes by id, purges and cross-project
// subscriptions.
func (w *workload) topicCommand(pr, t string) (CmdType, any) {
	metas := []string{"", `{"_allowed_sending_projects": ["tenant-2"]}`, `{"_allowed_subscribe_projects": []}`,
		`{"_allowed_subscribe_protocols": ["email"], "_default_message_ttl": 120}`, `{"_allowed_sending_users": "nope"}`,
		`{"_default_message_delay": 10}`}
	other := w.pick(wlProjects)
	switch n := w.rng.intn(100); {
	case n < 10:
		return CmdTopicCreate, &TopicCreate{Project: pr, Topic: t, Metadata: metaOf(w.tb, w.pick(metas))}
	case n < 14:
		return CmdTopicDelete, &TopicDelete{Project: pr, Topic: t}
	case n < 22:
		keys := []string{KeyAllowedSendingProjects, KeyAllowedSubscribeProtocols, "x", KeyDefaultMessageTTL}
		vals := []string{`["tenant-2"]`, `["webhook"]`, `3`, `[1]`, `300`}
		op := PatchOp{Op: w.pick([]string{"add", "replace", "remove"}), Key: w.pick(keys)}
		if op.Op != "remove" {
			op.Value = json.RawMessage(w.pick(vals))
		}
		return CmdTopicPatch, &TopicPatch{Project: pr, Topic: t, Ops: []PatchOp{op}}
	case n < 26:
		return CmdTopicPurge, &TopicPurge{Project: pr, Topic: t, Messages: w.rng.intn(2) == 0, Subscriptions: w.rng.intn(2) == 0}
	case n < 60:
		msgs := make([]NewMessage, 1+w.rng.intn(3))
		for i := range msgs {
			msgs[i].Body = json.RawMessage(fmt.Sprintf(`{"topic":%d}`, w.rng.intn(1000)))
			if w.rng.intn(2) == 0 {
				msgs[i].TTL = i64(int64(60 + w.rng.intn(540)))
			}
		}
		return CmdTopicMessagesPost, &TopicMessagesPost{Project: pr, Topic: t, SenderProject: other,
			SenderUser: w.pick([]string{"", "u1"}), Messages: msgs}
	case n < 70:
		return CmdTopicMessagesDelete, &TopicMessagesDelete{Project: pr, Topic: t, IDs: []string{w.pick(w.msgIDs), "bogus"}}
	default:
		return CmdSubscriptionCreate, &SubscriptionCreate{Project: pr, SourceKind: SourceTopic, Source: t,
			Subscriber: w.pick([]string{"http://a", "mailto:c@d", "http://x"}), TTL: 600,
			Secret: []byte("s"), SubscriberProject: other, SubscriberUser: "u1"}
	}
}
