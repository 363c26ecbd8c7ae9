package testcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// topicSink records every notification payload it accepts; fail decides
// per message (its body's "i") whether to answer 500.
type topicSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []topicDelivery
	fail func(i int) bool
}

type topicDelivery struct {
	I         int
	QueueName string
}

func newTopicSink(t *testing.T, fail func(i int) bool) *topicSink {
	s := &topicSink{fail: fail}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p struct {
			Body struct {
				I int `json:"i"`
			} `json:"body"`
			QueueName string `json:"queue_name"`
		}
		_ = json.Unmarshal(b, &p)
		if s.fail != nil && s.fail(p.Body.I) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, topicDelivery{p.Body.I, p.QueueName})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *topicSink) URL() string { return s.srv.URL + "/hook" }

// distinct returns the distinct i values received, in first-seen order,
// and whether every payload named the topic.
func (s *topicSink) distinct(topic string) (order []int, named bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, named := map[int]bool{}, true
	for _, d := range s.got {
		named = named && d.QueueName == topic
		if !seen[d.I] {
			seen[d.I] = true
			order = append(order, d.I)
		}
	}
	return order, named
}

// api sends a Zaqar request to n as project "test" and decodes a JSON
// answer into out (when not nil); it returns the status.
func api(t *testing.T, n *Node, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, n.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Client-ID", "3381af92-2b9e-11e3-b191-71861300734c")
	req.Header.Set("X-Project-ID", "test")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// topicMessageCount lists a topic's messages (paging) through n.
func topicMessageCount(t *testing.T, n *Node, topic string) int {
	t.Helper()
	count, path := 0, "/v2/topics/"+topic+"/messages?limit=20"
	for {
		var page struct {
			Messages []any `json:"messages"`
			Links    []struct {
				Href string `json:"href"`
			} `json:"links"`
		}
		if api(t, n, "GET", path, "", &page) != 200 {
			return -1
		}
		count += len(page.Messages)
		if len(page.Messages) == 0 || len(page.Links) == 0 {
			return count
		}
		path = page.Links[0].Href
	}
}

func postTopic(t *testing.T, n *Node, topic string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		body := fmt.Sprintf(`{"messages": [{"body": {"i": %d}}]}`, i)
		Poll(t, 20*time.Second, "topic post accepted", func() bool { return api(t, n, "POST", "/v2/topics/"+topic+"/messages", body, nil) == 201 })
	}
}

func topicSubscribe(t *testing.T, n *Node, topic, subscriber, options string) string {
	t.Helper()
	body := `{"subscriber": "` + subscriber + `"`
	if options != "" {
		body += `, "options": ` + options
	}
	var res struct {
		ID string `json:"subscription_id"`
	}
	if st := api(t, n, "POST", "/v2/topics/"+topic+"/subscriptions", body+"}", &res); st != 201 {
		t.Fatalf("subscribe: status %d", st)
	}
	return res.ID
}

// shortPolicy is about the shortest retry policy Zaqar's rules allow:
// 1 immediate retry, then 1 s, then the linear backoff 1 s and 6 s, then
// 11 s: a delivery is given up after ~19 s.
const shortPolicy = `{"retries_with_no_delay": 1, "minimum_delay_retries": 1, "minimum_delay": 1, "maximum_delay": 11, "maximum_delay_retries": 1}`

// Fan-out: every healthy subscription of a topic gets every message, in
// order, while another keeps failing on one message; that one is retried
// under the topic's _retry_policy, recorded as failed when the retries are
// exhausted, and then receives the rest. Once every subscription has
// acknowledged, the topic's listing is empty.
func TestTopicFanOutWithFailingSubscriber(t *testing.T) {
	c := New(t, 3, Options{Configure: allowLoopback})
	leader := c.WaitForLeader(10 * time.Second)
	const topic, total = "fan", 8
	if st := api(t, leader, "PUT", "/v2/topics/"+topic, `{"_retry_policy": `+shortPolicy+`}`, nil); st != 201 {
		t.Fatalf("create topic: %d", st)
	}
	good := []*topicSink{newTopicSink(t, nil), newTopicSink(t, nil), newTopicSink(t, nil)}
	flaky := newTopicSink(t, func(i int) bool { return i == 0 })
	for _, s := range good {
		topicSubscribe(t, leader, topic, s.URL(), "")
	}
	flakyID := topicSubscribe(t, leader, topic, flaky.URL(), "")
	postTopic(t, c.Followers()[0], topic, 0, total)
	for k, s := range good {
		Poll(t, 20*time.Second, fmt.Sprintf("sink %d got everything", k), func() bool { o, _ := s.distinct(topic); return len(o) >= total })
		order, named := s.distinct(topic)
		checkOrdered(t, order, total)
		if !named {
			t.Fatalf("sink %d: payload queue_name is not the topic name", k)
		}
	}
	if n := topicMessageCount(t, leader, topic); n != total {
		t.Fatalf("%d messages listed while one subscription lags, want %d", n, total)
	}
	start := time.Now()
	Poll(t, 60*time.Second, "the failing message given up and the rest delivered", func() bool {
		o, _ := flaky.distinct(topic)
		return len(o) >= total-1
	})
	if took := time.Since(start); took < 10*time.Second {
		t.Fatalf("gave up after %v: the topic's retry policy was not applied", took)
	}
	var d struct {
		Failed         int `json:"failed"`
		RecentFailures []struct {
			Attempts int `json:"attempts"`
		} `json:"recent_failures"`
	}
	Poll(t, 10*time.Second, "failure recorded", func() bool {
		return api(t, leader, "GET", "/v2/topics/"+topic+"/subscriptions/"+flakyID+"/delivery", "", &d) == 200 && d.Failed == 1
	})
	if len(d.RecentFailures) != 1 || d.RecentFailures[0].Attempts != 6 {
		t.Fatalf("recent failures %+v, want one after 6 attempts", d.RecentFailures)
	}
	Poll(t, 10*time.Second, "delivered messages leave the topic", func() bool { return topicMessageCount(t, leader, topic) == 0 })
}

// Topic messages without subscribers are kept (listed) until they expire,
// and survive the loss of the leader (and its restart); a subscription made afterwards gets
// what is posted later, also across the kill of its owner, and the
// messages leave the listing once delivered.
func TestTopicMessagesAcrossNodeKill(t *testing.T) {
	c := New(t, 3, Options{Configure: allowLoopback})
	leader := c.WaitForLeader(10 * time.Second)
	const topic = "durable"
	postTopic(t, leader, topic, 0, 10)
	leader.Kill()
	nl := c.WaitForNewLeader(leader, 20*time.Second)
	if n := topicMessageCount(t, nl, topic); n != 10 {
		t.Fatalf("%d messages after the leader kill, want 10", n)
	}
	leader.Restart() // back to three nodes: the owner kill below keeps a quorum
	c.WaitConverged(20 * time.Second)
	if n := topicMessageCount(t, leader, topic); n != 10 {
		t.Fatalf("%d messages on the restarted node, want 10", n)
	}
	s := newTopicSink(t, nil)
	id := topicSubscribe(t, nl, topic, s.URL(), "")
	if n := topicMessageCount(t, nl, topic); n != 0 {
		t.Fatalf("%d messages from before the subscription still listed", n)
	}
	own := waitOwner(t, nl, id, 10*time.Second, "")
	postTopic(t, nl, topic, 0, 10)
	Poll(t, 20*time.Second, "first deliveries", func() bool { o, _ := s.distinct(topic); return len(o) > 0 })
	victim := c.byID(own.Owner)
	var writer *Node
	for _, n := range c.Up() {
		if n != victim {
			writer = n
			break
		}
	}
	victim.Kill()
	c.WaitForLeader(20 * time.Second)
	postTopic(t, writer, topic, 10, 20)
	Poll(t, 40*time.Second, "all 20 delivered", func() bool { o, _ := s.distinct(topic); return len(o) >= 20 })
	order, _ := s.distinct(topic)
	checkOrdered(t, order, 20)
	Poll(t, 20*time.Second, "delivered messages leave the topic", func() bool { return topicMessageCount(t, writer, topic) == 0 })
}
