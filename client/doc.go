// Package client is a Go client for Herald's OpenStack Zaqar v2 HTTP API.
//
// It uses only the standard library and imports nothing from Herald, so it
// can drive any Zaqar v2 server. One Client talks to one base URL (a node
// or a load balancer) as one project and one Client-ID:
//
//	c := client.New("http://127.0.0.1:8888", client.WithProjectID("demo"))
//	ids, err := c.PostMessages(ctx, "jobs", []client.NewMessage{{Body: map[string]any{"n": 1}}})
//
// Every method takes a context first. A non-2xx answer is returned as a
// *Error carrying the status, the Zaqar title/description, the request id
// and any Retry-After; use IsStatus to test for a status.
//
// Writes carry an Idempotency-Key header (a Herald extension: the server
// applies a retried write once). The key is generated once per logical
// call and reused by the retries that WithRetry enables, so a POST retried
// after a lost response does not post twice. By default nothing is retried.
package client
