// Package filterpolicy implements Herald's subscription filter policies: a
// JSON object in a subscription's options (key OptionKey, "filter_policy")
// that selects, by fields of the message body, which messages are
// delivered to that subscription. It is a Herald extension to Zaqar,
// modelled on Amazon SNS filter policies; docs/FILTER-POLICIES.md is the
// user-facing reference.
//
// # Syntax
//
// A policy is a JSON object. Each key names a field of the message body
// (which must then be a JSON object) and its value is either
//
//   - an array of conditions (a leaf): the field matches when ANY
//     condition matches (OR), or
//   - a non-empty object: a nested policy for the fields of the object
//     found at that key, e.g. {"order": {"region": ["eu"]}}.
//
// All keys of an object must match (AND). An empty policy {} matches every
// message. Conditions:
//
//	"eu", 42, 1.5, true, false, null    exact value (numbers compare numerically: 42 == 42.0)
//	{"prefix": "ord-"}                  a string starting with "ord-"
//	{"anything-but": ["a", 1, null]}    a scalar not equal to any listed value (or one bare value)
//	{"numeric": ["=", 5]}               a number; operators =, <, <=, >, >=
//	{"numeric": [">", 10, "<=", 20]}    a range: lower bound (> or >=) then upper bound (< or <=)
//	{"exists": true}                    the field is present (any value, including null)
//	{"exists": false}                   the field is absent
//
// When the field's value is an array, a condition other than exists
// matches when it matches ANY element (an empty array matches only
// {"exists": true}). A nested policy applied to an array value matches
// when one element satisfies the whole nested policy. A missing field, or
// one that is not an object (or array of objects) where the policy nests,
// is treated as an object without fields, so only {"exists": false}
// conditions can match below it. Type mismatches never match: "42" is not
// 42, prefix needs a string, numeric a number; anything-but matches only a
// present scalar (string, number, boolean or null).
//
// A body that is not a JSON object (a string, a number, an array, invalid
// JSON) matches only the empty policy.
//
// # Limits
//
// Nesting is at most MaxDepth (5) levels of keys and a policy has at most
// MaxConditions (150) conditions in total; each element of a leaf array is
// one condition, except that an anything-but with n values counts n. Parse
// refuses a policy that breaks a rule with an error naming the problem and
// its path, e.g. `filter_policy.order.region[1]: unknown operator "prefx"`.
//
// # Use
//
// Parse (or FromOptions) once, then call Match for each message body;
// Match does not allocate for bodies whose matched strings carry no
// escape sequences, and is safe for concurrent use.
package filterpolicy
