package client

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func TestClaimMessages(t *testing.T) {
	f := newFake(t, reply{status: 201, header: map[string]string{"Location": "/v2/queues/q/claims/c9"},
		body: `{"messages":[{"id":"m1","href":"/v2/queues/q/messages/m1?claim_id=c9","ttl":420,"age":3,"body":{"n":1}}]}`})
	cl, err := f.client().ClaimMessages(context.Background(), "q", 120, 60, 5)
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "POST", "/v2/queues/q/claims", "limit=5", `{"grace":60,"ttl":120}`)
	want := &Claim{ID: "c9", Href: "/v2/queues/q/claims/c9", Messages: []Message{{ID: "m1",
		Href: "/v2/queues/q/messages/m1?claim_id=c9", TTL: 420, Age: 3, Body: json.RawMessage(`{"n":1}`), ClaimID: "c9"}}}
	if !reflect.DeepEqual(cl, want) {
		t.Errorf("claim = %+v\nwant    %+v", cl, want)
	}
	if cl.Empty() {
		t.Error("Empty() true for a claim with messages")
	}
}

func TestClaimMessagesAbsoluteLocationAndDefaults(t *testing.T) {
	f := newFake(t, reply{status: 201, header: map[string]string{"Location": "http://h:1/v2/queues/q/claims/c9"},
		body: `{"messages":[{"id":"m1","href":"/v2/queues/q/messages/m1?claim_id=c9","ttl":420,"age":3,"body":1}]}`})
	cl, err := f.client().ClaimMessages(context.Background(), "q", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "POST", "/v2/queues/q/claims", "", `{}`)
	if cl.ID != "c9" || cl.Href != "/v2/queues/q/claims/c9" {
		t.Errorf("claim id %q href %q", cl.ID, cl.Href)
	}
}

func TestClaimMessagesNoLocation(t *testing.T) {
	f := newFake(t, reply{status: 201,
		body: `{"messages":[{"id":"m1","href":"/v2/queues/q/messages/m1?claim_id=c7","ttl":420,"age":3,"body":1}]}`})
	cl, err := f.client().ClaimMessages(context.Background(), "q", 60, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.ID != "c7" || cl.Href != "/v2/queues/q/claims/c7" {
		t.Errorf("claim id %q href %q (from message href)", cl.ID, cl.Href)
	}
}

func TestClaimMessagesNoContent(t *testing.T) {
	f := newFake(t, reply{status: 204})
	cl, err := f.client().ClaimMessages(context.Background(), "q", 60, 60, 0)
	if err != nil {
		t.Fatalf("204 claim: err = %v, want nil", err)
	}
	if !cl.Empty() || cl.ID != "" || cl.Messages == nil || len(cl.Messages) != 0 {
		t.Errorf("claim = %+v, want empty", cl)
	}
}

func TestGetClaim(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"age":12,"ttl":120,"href":"/v2/queues/q/claims/c9",` +
		`"messages":[{"id":"m1","href":"/v2/queues/q/messages/m1?claim_id=c9","ttl":420,"age":15,"body":{"n":1}}]}`})
	cl, err := f.client().GetClaim(context.Background(), "q", "c9")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/claims/c9", "", "")
	want := &Claim{ID: "c9", Href: "/v2/queues/q/claims/c9", TTL: 120, Age: 12, Messages: []Message{{ID: "m1",
		Href: "/v2/queues/q/messages/m1?claim_id=c9", TTL: 420, Age: 15, Body: json.RawMessage(`{"n":1}`), ClaimID: "c9"}}}
	if !reflect.DeepEqual(cl, want) {
		t.Errorf("claim = %+v", cl)
	}
}

func TestGetClaimNotFound(t *testing.T) {
	f := newFake(t, reply{status: 404, body: `{"title":"Not found","description":"Claim not found."}`})
	_, err := f.client().GetClaim(context.Background(), "q", "gone")
	if !IsStatus(err, 404) {
		t.Fatalf("err = %v, want 404", err)
	}
}

func TestUpdateAndReleaseClaim(t *testing.T) {
	f := newFake(t)
	c := f.client()
	ctx := context.Background()
	if err := c.UpdateClaim(ctx, "q", "c9", 300, 90); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateClaim(ctx, "q", "c9", 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseClaim(ctx, "q", "c9"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "PATCH", "/v2/queues/q/claims/c9", "", `{"grace":90,"ttl":300}`)
	if ct := rs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("claim PATCH Content-Type = %q", ct)
	}
	rs[1].want(t, "PATCH", "/v2/queues/q/claims/c9", "", `{}`)
	rs[2].want(t, "DELETE", "/v2/queues/q/claims/c9", "", "")
}
