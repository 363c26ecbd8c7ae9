package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// pathMatcher matches request paths against one route template the way
// the regular expression mux builds from Route.Path(template) does, at a
// fraction of the cost, and sets the route variables.
//
// mux tries the routes in order and, for the one that matches, runs its
// regexp a second time to extract the variables: two to a dozen regexp
// executions per request, the largest routing cost in the profile. mux
// stays the router (route table, order, NotFoundHandler, Match); only the
// path matcher is ours. For a template lit0{v1}lit1...{vn}litn mux's
// regexp is ^lit0(?P<v1>[^/]+)lit1...(?P<vn>[^/]+)litn$ (QuoteMeta'd
// literals, mux's default variable pattern). Every variable of our
// templates ends at a '/' or at the end of the template, so each one is
// the non-empty run of bytes up to the next '/': no backtracking is
// needed. TestPathMatcherAgreesWithMux and FuzzPathMatcher hold it to
// mux's own matching.
type pathMatcher struct {
	lits  []string // lits[i] precedes names[i]; the last one ends the template
	names []string
}

// addRoute registers h for the path template tpl, matched by a
// pathMatcher instead of mux's regexp.
func addRoute(r *mux.Router, tpl string, h http.Handler) {
	r.NewRoute().MatcherFunc(newPathMatcher(tpl).match).Handler(h)
}

// newPathMatcher parses a template. It panics on what it does not support
// (a variable with a pattern, or not followed by '/' or the end), which
// only a change of the route table can cause.
func newPathMatcher(tpl string) *pathMatcher {
	pm := &pathMatcher{}
	rest := tpl
	for {
		open, end := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
		if open < 0 && end < 0 {
			pm.lits = append(pm.lits, rest)
			return pm
		}
		if open < 0 || end < open {
			panic("httpapi: unbalanced braces in route " + tpl)
		}
		name := rest[open+1 : end]
		pm.lits = append(pm.lits, rest[:open])
		rest = rest[end+1:]
		if name == "" || strings.ContainsAny(name, ":{") || rest != "" && rest[0] != '/' {
			panic("httpapi: unsupported variable in route " + tpl)
		}
		pm.names = append(pm.names, name)
	}
}

// match is the route's mux.MatcherFunc: on a match it sets m.Vars (mux
// keeps variables a matcher set, and the route has no path regexp of its
// own to add any).
func (pm *pathMatcher) match(r *http.Request, m *mux.RouteMatch) bool {
	if !pm.scan(r.URL.Path, nil) {
		return false
	}
	if len(pm.names) > 0 {
		m.Vars = make(map[string]string, len(pm.names))
		pm.scan(r.URL.Path, m.Vars)
	}
	return true
}

// scan reports whether p matches, storing the variables in vars if it is
// not nil.
func (pm *pathMatcher) scan(p string, vars map[string]string) bool {
	if !strings.HasPrefix(p, pm.lits[0]) {
		return false
	}
	p = p[len(pm.lits[0]):]
	for i, name := range pm.names {
		end := strings.IndexByte(p, '/')
		if end < 0 {
			end = len(p)
		}
		if end == 0 || !strings.HasPrefix(p[end:], pm.lits[i+1]) {
			return false
		}
		if vars != nil {
			vars[name] = p[:end]
		}
		p = p[end+len(pm.lits[i+1]):]
	}
	return p == ""
}
