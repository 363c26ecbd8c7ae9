package fsm

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// Topic access control (the Rocky topic spec's _allowed_* keys, which Zaqar
// stores but never enforces; Herald enforces them). The rules, applied by
// the FSM so that a check and the metadata it reads are one atomic step:
//
//   - The owner project (the project the topic lives in) may always send
//     and subscribe: it can PATCH the lists anyway, so excluding it would
//     protect nothing.
//   - Sending: another project may send when it is listed in
//     _allowed_sending_projects or its user is listed in
//     _allowed_sending_users. Unset lists grant nothing, so by default only
//     the owner project's users send.
//   - Subscribing: when neither _allowed_subscribe_projects nor
//     _allowed_subscribe_users is set, every project may subscribe;
//     otherwise another project must be listed in one of them (project,
//     or its user).
//   - Protocols: the subscriber's protocol ("webhook" for http/https,
//     "email" for mailto) must be in _allowed_subscribe_protocols when that
//     is set (for the owner too: it restricts the topic, not the caller);
//     unset means webhook and email.
//
// A list key that is absent or null is unset; a list (even empty) is set.
// The lists only grant: an empty _allowed_sending_projects is the same as
// none.

// Topic ACL metadata keys.
const (
	KeyAllowedSendingUsers       = "_allowed_sending_users"
	KeyAllowedSendingProjects    = "_allowed_sending_projects"
	KeyAllowedSubscribeUsers     = "_allowed_subscribe_users"
	KeyAllowedSubscribeProjects  = "_allowed_subscribe_projects"
	KeyAllowedSubscribeProtocols = "_allowed_subscribe_protocols"
)

// Topic subscriber protocols (values of _allowed_subscribe_protocols).
const (
	ProtocolWebhook = "webhook" // http and https subscribers
	ProtocolEmail   = "email"   // mailto subscribers
)

// TopicACLKeys are the five access-control keys of topic metadata.
var TopicACLKeys = []string{
	KeyAllowedSendingUsers, KeyAllowedSendingProjects,
	KeyAllowedSubscribeUsers, KeyAllowedSubscribeProjects, KeyAllowedSubscribeProtocols,
}

// SubscriberProtocol maps a subscriber URI to its topic protocol:
// "webhook" for http(s), "email" for mailto, else "" (unknown).
func SubscriberProtocol(uri string) string {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok {
		return ""
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return ProtocolWebhook
	case "mailto":
		return ProtocolEmail
	}
	return ""
}

// ValidateTopicMetadata checks a topic's metadata: the reserved keys as for
// queues (ValidateQueueMetadata) and the five ACL keys, each of which must
// be null or a list of strings (protocols: "webhook" or "email"). A
// failure is a CodeBadRequest *Error with a description naming the key.
func ValidateTopicMetadata(md map[string]json.RawMessage) error {
	if err := ValidateQueueMetadata(md); err != nil {
		return err
	}
	for _, k := range TopicACLKeys {
		raw, ok := md[k]
		if !ok || isNull(raw) {
			continue
		}
		list, err := aclList(k, raw)
		if err != nil {
			return err
		}
		if k != KeyAllowedSubscribeProtocols {
			continue
		}
		for _, p := range list {
			if p != ProtocolWebhook && p != ProtocolEmail {
				return Errorf(CodeBadRequest, "Unknown protocol %q in %q: the supported protocols are %q (http and https subscribers) and %q (mailto subscribers).",
					p, k, ProtocolWebhook, ProtocolEmail)
			}
		}
	}
	return nil
}

// aclList decodes an ACL value that must be a JSON list of strings.
func aclList(key string, raw json.RawMessage) ([]string, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return nil, Errorf(CodeBadRequest, "The value of %q must be a list of strings, not %s.", key, jsonKind(t))
	}
	var items []json.RawMessage
	if json.Unmarshal(t, &items) != nil {
		return nil, Errorf(CodeBadRequest, "The value of %q must be a list of strings.", key)
	}
	out := make([]string, len(items))
	for i, it := range items {
		t := bytes.TrimSpace(it)
		if len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &out[i]) != nil {
			return nil, Errorf(CodeBadRequest, "The value of %q must be a list of strings: entry %d is %s.", key, i, jsonKind(t))
		}
	}
	return out, nil
}

// jsonKind names the JSON type of a value for error messages.
func jsonKind(t []byte) string {
	if len(t) == 0 {
		return "empty"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// aclSet returns the stored list of key (set=false when absent or null;
// values that do not decode count as an empty set list: validation keeps
// them out).
func aclSet(md map[string]json.RawMessage, key string) (list []string, set bool) {
	raw, ok := md[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	list, _ = aclList(key, raw)
	return list, true
}

func aclContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func listText(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	s := append([]string(nil), list...)
	sort.Strings(s)
	return "[" + strings.Join(s, ", ") + "]"
}

// CheckTopicSend decides whether user of project may send to the topic
// named topic of project owner whose metadata is md; a refusal is a
// CodeForbidden *Error saying which list excluded whom.
func CheckTopicSend(md map[string]json.RawMessage, owner, topic, project, user string) error {
	if project == "" || project == owner {
		return nil
	}
	projects, _ := aclSet(md, KeyAllowedSendingProjects)
	users, _ := aclSet(md, KeyAllowedSendingUsers)
	if aclContains(projects, project) || (user != "" && aclContains(users, user)) {
		return nil
	}
	return Errorf(CodeForbidden,
		"Project %q may not send messages to topic %q of project %q: the project is not listed in %s %s and user %q is not listed in %s %s.",
		project, topic, owner, KeyAllowedSendingProjects, listText(projects), user, KeyAllowedSendingUsers, listText(users))
}

// CheckTopicSubscribe decides whether user of project may subscribe
// subscriber (a URI) to the topic named topic of project owner whose
// metadata is md; a refusal is a CodeForbidden *Error saying which list
// excluded which project, user or protocol.
func CheckTopicSubscribe(md map[string]json.RawMessage, owner, topic, project, user, subscriber string) error {
	if project != "" && project != owner {
		projects, pset := aclSet(md, KeyAllowedSubscribeProjects)
		users, uset := aclSet(md, KeyAllowedSubscribeUsers)
		if (pset || uset) && !aclContains(projects, project) && (user == "" || !aclContains(users, user)) {
			return Errorf(CodeForbidden,
				"Project %q may not subscribe to topic %q of project %q: the project is not listed in %s %s and user %q is not listed in %s %s.",
				project, topic, owner, KeyAllowedSubscribeProjects, listText(projects), user, KeyAllowedSubscribeUsers, listText(users))
		}
	}
	return checkTopicProtocol(md, topic, subscriber)
}

// checkTopicProtocol checks the subscriber's protocol against
// _allowed_subscribe_protocols (default: webhook and email).
func checkTopicProtocol(md map[string]json.RawMessage, topic, subscriber string) error {
	protocols, set := aclSet(md, KeyAllowedSubscribeProtocols)
	if !set {
		protocols = []string{ProtocolWebhook, ProtocolEmail}
	}
	proto := SubscriberProtocol(subscriber)
	if proto != "" && aclContains(protocols, proto) {
		return nil
	}
	scheme, _, _ := strings.Cut(subscriber, ":")
	if proto == "" {
		proto = "unknown"
	}
	return Errorf(CodeForbidden, "Protocol %q (subscriber scheme %q) may not subscribe to topic %q: %s is %s.",
		proto, strings.ToLower(scheme), topic, KeyAllowedSubscribeProtocols, listText(protocols))
}

// errNoTopic is the answer for a topic another project addresses but that
// does not exist (only its owner project creates topics lazily).
func errNoTopic(owner, topic string) *Error {
	return Errorf(CodeNotFound, "Topic %s does not exist in project %s.", topic, owner)
}
