package httpapi

import (
	"net/http"
	"strings"

	"github.com/herald-mq/herald/fsm"
)

// Cross-project topic subscriptions. The topic subscription routes are the
// shared subscription routes (subscriptions.go) wrapped by
// crossProjectSubs: without topic_project, or with the caller's own
// project, the shared handler runs unchanged (the owner sees and manages
// every subscription of its topic, whoever made it). With
// topic_project=<owner> naming another project:
//
//   - POST subscribes the caller's project to the owner's topic: the topic
//     must exist (404) and its subscribe ACL admit the caller's project or
//     user (X-User-ID) and the subscriber's protocol (403 naming the list).
//     The subscription belongs to the owner's topic and records the
//     subscribing project;
//   - GET of the collection lists only the caller's project's
//     subscriptions of that topic;
//   - GET, PATCH, DELETE, confirm and delivery of an item work only on a
//     subscription the caller's project made (404 otherwise).

// crossProjectSubs wraps every handler of the topic subscription routes.
func (s *server) crossProjectSubs(rts []route) []route {
	for i := range rts {
		rt := &rts[i]
		wrapped := make(map[string]handlerFunc, len(rt.methods))
		for method, h := range rt.methods {
			foreign := s.foreignSubHandler(rt.path, method, h)
			wrapped[method] = func(c *call) {
				owner, aerr := topicOwner(c)
				if aerr != nil {
					s.fail(c, aerr)
					return
				}
				if owner == c.project {
					h(c)
					return
				}
				foreign(c, owner)
			}
		}
		rt.methods = wrapped
	}
	return rts
}

// foreignSubHandler picks the handler of a call from another project.
func (s *server) foreignSubHandler(path, method string, shared handlerFunc) func(c *call, owner string) {
	switch {
	case strings.HasSuffix(path, "/subscriptions") && method == http.MethodPost:
		return s.foreignSubscribe
	case strings.HasSuffix(path, "/subscriptions"):
		return s.foreignListSubscriptions
	}
	// An item: check the subscription is the caller's, then run the shared
	// handler on the owner's project.
	return func(c *call, owner string) {
		id := c.subscriptionID()
		found := false
		if fsm.ValidID(id) {
			now := s.nowNano()
			if err := s.read(c, func(st *fsm.State) {
				si, ok := st.Subscription(owner, fsm.SourceTopic, c.topic(), id, now)
				found = ok && si.SubscriberProject == c.project
			}); err != nil {
				s.fail(c, err)
				return
			}
		}
		if !found {
			if method == http.MethodDelete {
				writeEmpty(c.w, http.StatusNoContent) // §1.5.5: 204 always
				return
			}
			s.fail(c, errNoSubscription(id))
			return
		}
		c.project = owner
		shared(c)
	}
}

// foreignSubscribe: POST /v2/topics/{t}/subscriptions?topic_project=<owner>.
func (s *server) foreignSubscribe(c *call, owner string) {
	s.subscribe(c, topicSubs, owner, crossProject{project: c.project, user: c.user(),
		query: [][2]string{{"topic_project", owner}}})
}

// foreignListSubscriptions: GET /v2/topics/{t}/subscriptions?topic_project=<owner>:
// the caller's project's subscriptions of the owner's topic.
func (s *server) foreignListSubscriptions(c *call, owner string) {
	s.listSubscriptionPage(c, topicSubs, [][2]string{{"topic_project", owner}},
		func(st *fsm.State, name, marker string, limit int, now int64) []fsm.SubscriptionInfo {
			return st.ListSubscriptionsBy(owner, fsm.SourceTopic, name, c.project, marker, limit, now)
		})
}
