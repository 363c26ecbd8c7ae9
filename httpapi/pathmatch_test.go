package httpapi

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// routeIndex is a handler that only identifies a route.
type routeIndex int

func (routeIndex) ServeHTTP(http.ResponseWriter, *http.Request) {}

// routerPair registers every route of the API twice: with mux's own path
// regexps (Router.Handle) and with pathMatchers (addRoute, as New does).
func routerPair(t testing.TB) (regexps, matchers *mux.Router) {
	t.Helper()
	s := &server{}
	regexps, matchers = mux.NewRouter(), mux.NewRouter()
	for _, r := range []*mux.Router{regexps, matchers} {
		r.StrictSlash(false)
		r.SkipClean(true)
	}
	for i, rt := range s.routes() {
		regexps.Handle(rt.path, routeIndex(i))
		addRoute(matchers, rt.path, routeIndex(i))
	}
	return regexps, matchers
}

// checkSameRoute matches path on both routers and compares the route and
// the variables.
func checkSameRoute(t *testing.T, regexps, matchers *mux.Router, path string) {
	t.Helper()
	r := &http.Request{Method: "GET", URL: &url.URL{Path: path}}
	var want, got mux.RouteMatch
	wantOK, gotOK := regexps.Match(r, &want), matchers.Match(r, &got)
	if wantOK != gotOK || want.Handler != got.Handler || !reflect.DeepEqual(want.Vars, got.Vars) {
		t.Fatalf("path %q: pathMatcher gives %v %v %v; mux regexp %v %v %v", path,
			gotOK, got.Handler, got.Vars, wantOK, want.Handler, want.Vars)
	}
}

// TestPathMatcherAgreesWithMux instantiates every route template with
// awkward variable values and mangles the results.
func TestPathMatcherAgreesWithMux(t *testing.T) {
	regexps, matchers := routerPair(t)
	values := []string{"q", "a.b-c_d", "x y", "", "a/b", "é", "\xff", "{queue_name}", "messages", "%2F", "\n", "/"}
	var paths []string
	matched := 0
	for _, rt := range (&server{}).routes() {
		for _, v := range values {
			var sb strings.Builder
			for rest := rt.path; rest != ""; {
				i, j := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
				if i < 0 {
					sb.WriteString(rest)
					break
				}
				sb.WriteString(rest[:i] + v)
				rest = rest[j+1:]
			}
			p := sb.String()
			paths = append(paths, p, p+"/", p+"x", strings.TrimSuffix(p, "/"), "/"+p, strings.ToUpper(p),
				strings.Replace(p, "/", "//", 1), p[:len(p)/2], p+"/"+v)
		}
	}
	paths = append(paths, "", "/", "//", "/v2", "/v2//", "/v2/queues/", "/v2/queues//messages", "x")
	for _, p := range paths {
		checkSameRoute(t, regexps, matchers, p)
		var m mux.RouteMatch
		if matchers.Match(&http.Request{URL: &url.URL{Path: p}}, &m) {
			matched++
		}
	}
	if matched < len(paths)/10 {
		t.Fatalf("only %d of %d paths matched a route: the test does not exercise matching", matched, len(paths))
	}
}

// FuzzPathMatcher compares pathMatcher routing with mux's on any path.
func FuzzPathMatcher(f *testing.F) {
	for _, p := range []string{"/", "/v2/", "/v2/queues/q/messages", "/v2/queues/q/messages/id", "/v2/topics/t/subscriptions/s/confirm",
		"/v2/queues/q/claims/c", "/cluster/status", "/v2/queues//messages", "/v2/queues/q/messages/"} {
		f.Add(p)
	}
	regexps, matchers := routerPair(f)
	f.Fuzz(func(t *testing.T, path string) { checkSameRoute(t, regexps, matchers, path) })
}

// TestNewPathMatcherRefuses: templates the matcher cannot handle exactly
// panic instead of being matched differently from mux.
func TestNewPathMatcherRefuses(t *testing.T) {
	for _, tpl := range []string{"/a/{id:[0-9]+}", "/a/{id}.json", "/a/{x}{y}", "/a/{}", "/a/{x", "/a/x}"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("newPathMatcher(%q) did not panic", tpl)
				}
			}()
			newPathMatcher(tpl)
		}()
	}
}
