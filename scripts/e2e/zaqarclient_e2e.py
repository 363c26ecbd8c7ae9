#!/usr/bin/env python3
"""Drive a running Herald cluster with the real python-zaqarclient (v2 API).

Usage: zaqarclient_e2e.py URL [URL...]   (or HERALD_E2E_URLS="URL,URL,...")

One zaqarclient Client per node URL; every call goes to the next node in
round-robin order, so each read is served by a different node than the
write before it (Herald reads are linearizable by default). The one
exception is a streaming iterator (.stream()), which follows its "next"
links on the client that made the first request. All clients
share one Client-ID (one logical client, which is what `echo` compares) and
one fresh project per run.

Prints one line per test ("PASS name" or "FAIL name: reason"), then exactly
one line "N passed, M failed"; exits 1 if anything failed.

If zaqarclient cannot be imported by this interpreter, the script re-runs
itself with /usr/bin/python3 (the Debian package installs there, while
python3 on PATH may be another build, e.g. pyenv); if that fails too it
prints a SKIP line and exits 0, or 1 when CI=true.

Env: HERALD_E2E_TIMEOUT seconds per test (default 60), HERALD_E2E_FILTER
(substring; run only matching tests), HERALD_E2E_VERBOSE=1 (tracebacks).
"""

import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"


def _ensure_zaqarclient():
    try:
        import zaqarclient  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.realpath(sys.executable or "")
    if (os.environ.get("HERALD_E2E_REEXEC") != "1" and os.path.exists(SYSTEM_PYTHON)
            and os.path.realpath(SYSTEM_PYTHON) != here):
        os.environ["HERALD_E2E_REEXEC"] = "1"
        sys.stdout.flush()
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    print("SKIP: python3-zaqarclient not installed (apt-get install -y python3-zaqarclient)")
    sys.exit(1 if os.environ.get("CI", "").lower() == "true" else 0)


_ensure_zaqarclient()

import datetime  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402

warnings.simplefilter("ignore", DeprecationWarning)  # distutils in zaqarclient.transport.http

from zaqarclient.queues.v2 import client as zclient  # noqa: E402
from zaqarclient.queues.v2 import claim as zclaim  # noqa: E402
from zaqarclient.transport import errors as zerrors  # noqa: E402

# ---------------------------------------------------------------- harness


class Nodes:
    """One zaqarclient per node; next() hands them out round-robin."""

    def __init__(self, urls, project, client_uuid):
        self.urls = urls
        self.project = project
        self.client_uuid = client_uuid
        self.clients = [self.make(u) for u in urls]
        self.i = 0

    def make(self, url, client_uuid=None):
        conf = {
            "auth_opts": {"backend": "noauth", "options": {"os_project_id": self.project}},
            "client_uuid": client_uuid or self.client_uuid,
        }
        return zclient.Client(url, version=2, conf=conf)

    def next(self):
        c = self.clients[self.i % len(self.clients)]
        self.i += 1
        return c

    def next_url(self):
        return self.next().api_url

    def q(self, name):
        """A queue object on the next node (no request is sent: v2 queues are lazy)."""
        return self.next().queue(name)

    def claim(self, claim, name):
        """Re-home a claim object on the next node before using it."""
        claim._queue = self.q(name)
        return claim

    def msg(self, message, name):
        """Re-home a message object on the next node before using it."""
        message.queue = self.q(name)
        return message


class TestTimeout(Exception):
    pass


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def qname(tag):
    return "e2e-%s-%s" % (tag, uuid.uuid4().hex[:8])


def expect_error(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    names = "/".join(t.__name__ for t in (exc_type if isinstance(exc_type, tuple) else (exc_type,)))
    raise AssertionError("expected %s, got no error" % names)


def listed(queue_obj, **params):
    return list(queue_obj.messages(**params))


def post_bodies(n, name, bodies, ttl=300):
    res = n.q(name).post([{"body": b, "ttl": ttl} for b in bodies])
    assert len(res["resources"]) == len(bodies), res
    return [r.rsplit("/", 1)[-1] for r in res["resources"]]


def queue_names(n, **params):
    it, count = n.next().queues(**params)
    return [q.name for q in it.stream()], count


# ---------------------------------------------------------------- service


@test
def ping_every_node(n):
    for c in n.clients:
        assert c.ping() is True, "ping() false on %s" % c.api_url


@test
def homedoc(n):
    doc = n.next().homedoc()
    assert isinstance(doc, dict) and "resources" in doc, doc
    for rel, res in doc["resources"].items():
        href = res.get("href-template") or res.get("href") or ""
        assert href.startswith("/v2"), (rel, href)


# ---------------------------------------------------------------- queues


@test
def queue_create_list_delete(n):
    name = qname("q")
    n.next().queue(name, force_create=True)
    names, _ = queue_names(n)
    assert name in names, "created queue %s not listed: %s" % (name, names)
    n.q(name).delete()
    names, _ = queue_names(n)
    assert name not in names, "deleted queue %s still listed" % name


@test
def queue_list_paging_and_count(n):
    prefix = "e2e-page-%s" % uuid.uuid4().hex[:6]
    made = sorted("%s-%d" % (prefix, i) for i in range(5))
    for name in made:
        n.next().queue(name, force_create=True)
    it, count = n.next().queues(limit=2, name=prefix, with_count=True)
    first = [q.name for q in it]
    assert first == made[:2], "first page %s, want %s" % (first, made[:2])
    assert count is not None and count >= 5, "with_count gave %r" % count
    it, _ = n.next().queues(limit=2, name=prefix)
    got = [q.name for q in it.stream()]
    assert got == made, "paged listing %s, want %s" % (got, made)
    it, _ = n.next().queues(limit=2, name=prefix, marker=made[1], detailed=True)
    qs = list(it)
    assert [q.name for q in qs] == made[2:4], [q.name for q in qs]
    md = qs[0]._metadata  # Queue.metadata is a method; a listing fills _metadata
    assert md and "_default_message_ttl" in md, "detailed listing metadata: %r" % (md,)
    for name in made:
        n.q(name).delete()


@test
def queue_metadata_set_and_patch(n):
    name = qname("meta")
    n.next().queue(name, force_create=True)
    md = n.q(name).metadata(force_reload=True)
    assert md.get("_default_message_ttl") == 3600, md
    assert md.get("_max_messages_post_size") == 262144, md
    # zaqarclient diffs against a GET: 'add' for new keys, 'replace' for
    # keys with a non-null value, 'remove' for every other key it saw
    # (including the reserved defaults).
    got = n.q(name).metadata(new_meta={"color": "red", "_default_message_ttl": 600})
    assert got.get("color") == "red" and got.get("_default_message_ttl") == 600, got
    md = n.q(name).metadata(force_reload=True)
    assert md.get("color") == "red" and md.get("_default_message_ttl") == 600, md
    got = n.q(name).metadata(new_meta={"color": "blue", "size": 3})
    assert got.get("color") == "blue" and got.get("size") == 3, got
    md = n.q(name).metadata(force_reload=True)
    assert md.get("color") == "blue" and md.get("size") == 3, md
    assert md.get("_default_message_ttl") == 3600, "removed reserved key not back to default: %s" % md
    n.q(name).metadata(new_meta={})
    md = n.q(name).metadata(force_reload=True)
    assert "color" not in md and "size" not in md, md
    n.q(name).delete()


@test
def queue_metadata_on_create(n):
    name = qname("meta-create")
    n.next().queue(name, force_create=True)
    req, trans = n.next()._request_and_transport()
    # Create-with-metadata through the client's core API on an existing
    # queue: 204, metadata ignored.
    from zaqarclient.queues.v2 import core
    core.queue_create(trans, req, name, metadata={"ignored": True})
    md = n.q(name).metadata(force_reload=True)
    assert "ignored" not in md, md
    name2 = qname("meta-create")
    req, trans = n.next()._request_and_transport()
    core.queue_create(trans, req, name2, metadata={"k": "v", "_default_message_ttl": 120})
    md = n.q(name2).metadata(force_reload=True)
    assert md.get("k") == "v" and md.get("_default_message_ttl") == 120, md
    # the queue's _default_message_ttl applies to messages posted without a ttl
    mid = n.q(name2).post({"body": "d"})["resources"][0].rsplit("/", 1)[-1]
    assert n.q(name2).message(mid).ttl == 120
    n.q(name).delete()
    n.q(name2).delete()


@test
def queue_patch_missing_queue_404(n):
    name = qname("nope")
    expect_error(zerrors.ResourceNotFound, n.q(name).metadata, new_meta={"a": 1})


@test
def queue_stats(n):
    name = qname("stats")
    st = n.q(name).stats
    assert st["messages"]["total"] == 0 and st["messages"]["free"] == 0, st
    post_bodies(n, name, ["a", "b", "c"])
    st = n.q(name).stats["messages"]
    assert (st["free"], st["claimed"], st["total"]) == (3, 0, 3), st
    for k in ("oldest", "newest"):
        assert {"href", "age", "created"} <= set(st[k]), st
    n.q(name).claim(ttl=60, grace=60, limit=1)
    st = n.q(name).stats["messages"]
    assert (st["free"], st["claimed"], st["total"]) == (2, 1, 3), st
    n.q(name).delete()


@test
def queue_purge(n):
    name = qname("purge")
    post_bodies(n, name, [1, 2, 3])
    n.q(name).purge()
    assert listed(n.q(name), echo=True) == [], "messages left after purge"
    post_bodies(n, name, [4])
    n.q(name).purge(resource_types=["messages"])
    assert listed(n.q(name), echo=True) == [], "messages left after purge(messages)"
    n.q(name).delete()


@test
def queue_delete_drops_messages(n):
    name = qname("del")
    post_bodies(n, name, ["x", "y"])
    n.q(name).delete()
    assert listed(n.q(name), echo=True) == [], "messages survive queue delete"
    st = n.q(name).stats["messages"]
    assert st["total"] == 0, st
    n.q(name).delete()  # deleting again is fine (204)


# ---------------------------------------------------------------- messages


@test
def message_post_and_get(n):
    name = qname("msg")
    res = n.q(name).post([{"body": {"k": 1}, "ttl": 300},
                          {"body": "two", "ttl": 120}, {"body": None}])
    hrefs = res["resources"]
    assert len(hrefs) == 3 and all(h.startswith("/v2/queues/%s/messages/" % name) for h in hrefs), res
    m = n.q(name).message(hrefs[0].rsplit("/", 1)[-1])
    assert m.href == hrefs[0], (m.href, hrefs[0])
    assert m.body == {"k": 1} and m.ttl == 300 and m.age >= 0, vars(m)
    m = n.q(name).message(hrefs[1].rsplit("/", 1)[-1])
    assert m.body == "two" and m.ttl == 120, vars(m)
    m = n.q(name).message(hrefs[2].rsplit("/", 1)[-1])
    assert m.body is None and m.ttl == 3600, "default ttl: %s" % vars(m)
    expect_error(zerrors.ResourceNotFound, n.q(name).message, "0" * 24)
    n.q(name).delete()


@test
def message_list_echo(n):
    name = qname("echo")
    post_bodies(n, name, ["a", "b", "c"])
    mine = listed(n.q(name), echo=True)
    assert [m.body for m in mine] == ["a", "b", "c"], [m.body for m in mine]
    hidden = listed(n.q(name), echo=False)
    assert hidden == [], "echo=False shows own messages: %s" % [m.body for m in hidden]
    assert listed(n.q(name)) == [], "default echo shows own messages"
    other = n.make(n.next_url(), client_uuid=uuid.uuid4().hex)
    theirs = listed(other.queue(name), echo=False)
    assert [m.body for m in theirs] == ["a", "b", "c"], "another client sees %s" % [m.body for m in theirs]
    n.q(name).delete()


@test
def message_list_paging(n):
    name = qname("paging")
    bodies = list(range(13))
    post_bodies(n, name, bodies[:7])
    post_bodies(n, name, bodies[7:])
    first = listed(n.q(name), echo=True)
    assert [m.body for m in first] == bodies[:10], [m.body for m in first]
    it = n.q(name).messages(echo=True, limit=4)
    got = [m.body for m in it.stream()]
    assert got == bodies, "streamed %s" % got
    n.q(name).delete()


@test
def message_get_many(n):
    name = qname("many")
    ids = post_bodies(n, name, ["a", "b", "c"])
    # zaqarclient sends the ids as repeated query parameters
    # (?ids=a&ids=b&ids=c), not as one comma list.
    got = list(n.q(name).messages(*ids))
    assert sorted(m.body for m in got) == ["a", "b", "c"], [m.body for m in got]
    assert sorted(m.id for m in got) == sorted(ids), [m.id for m in got]
    got = list(n.q(name).messages(ids[1]))
    assert [m.body for m in got] == ["b"], [m.body for m in got]
    n.q(name).delete()


@test
def message_delete_one(n):
    name = qname("delone")
    ids = post_bodies(n, name, ["a", "b"])
    m = n.q(name).message(ids[0])
    n.msg(m, name).delete()
    expect_error(zerrors.ResourceNotFound, n.q(name).message, ids[0])
    left = listed(n.q(name), echo=True)
    assert [x.id for x in left] == [ids[1]], [x.id for x in left]
    n.q(name).delete()


@test
def message_delete_many(n):
    name = qname("delmany")
    ids = post_bodies(n, name, ["a", "b", "c"])
    n.q(name).delete_messages(*ids[:2])
    left = listed(n.q(name), echo=True)
    assert [x.id for x in left] == ids[2:], [x.id for x in left]
    n.q(name).delete_messages(ids[2])
    assert listed(n.q(name), echo=True) == []
    n.q(name).delete()


@test
def message_delay(n):
    # delay only applies on queues with a truthy _default_message_delay
    name = qname("delay")
    n.next().queue(name, force_create=True)
    n.q(name).metadata(new_meta={"_default_message_delay": 30})
    ids = post_bodies(n, name, ["later"])
    n.q(name).post([{"body": "now", "delay": 0}])
    vis = listed(n.q(name), echo=True)
    assert [m.body for m in vis] == ["now"], "delayed message listed: %s" % [m.body for m in vis]
    inc = listed(n.q(name), echo=True, include_delayed=True)
    assert [m.body for m in inc] == ["later", "now"], [m.body for m in inc]
    assert n.q(name).message(ids[0]).body == "later"
    cl = n.q(name).claim(ttl=60, grace=60)
    assert [m.body for m in cl] == ["now"], "claimed %s" % [m.body for m in cl]
    n.claim(cl, name).delete()
    st = n.q(name).stats["messages"]
    assert st["total"] == 2 and st["free"] == 2, st
    n.q(name).delete()


@test
def message_pop(n):
    name = qname("pop")
    post_bodies(n, name, ["a", "b", "c"])
    popped = list(n.q(name).pop(count=2))
    assert len(popped) == 2, popped
    assert [m.body for m in popped] == ["a", "b"], "pop not FIFO: %s" % [m.body for m in popped]
    left = listed(n.q(name), echo=True)
    assert [m.body for m in left] == ["c"], [m.body for m in left]
    assert list(n.q(name).pop(count=5))[0].body == "c"
    assert list(n.q(name).pop(count=1)) == []
    n.q(name).delete()


@test
def message_size_limit(n):
    name = qname("size")
    big = "x" * (262144 - 200)
    post_bodies(n, name, [big])  # just under max_messages_post_size
    expect_error(zerrors.MalformedRequest, n.q(name).post, {"body": "x" * 262144})
    got = listed(n.q(name), echo=True)
    assert len(got) == 1 and len(got[0].body) == len(big)
    n.q(name).delete()


@test
def bad_parameters_are_400(n):
    name = qname("bad")
    post_bodies(n, name, ["a"])
    expect_error(zerrors.MalformedRequest, listed, n.q(name), limit=21)
    expect_error(zerrors.MalformedRequest, listed, n.q(name), echo="None")
    expect_error(zerrors.MalformedRequest, lambda: list(n.q(name).pop(count=0)))
    expect_error(zerrors.MalformedRequest, lambda: list(n.q(name).pop(count=21)))
    expect_error(zerrors.MalformedRequest, n.q(name).claim, ttl=30, grace=60)
    expect_error(zerrors.MalformedRequest, n.q(name).claim, ttl=60, grace=60, limit=21)
    expect_error(zerrors.MalformedRequest, lambda: n.next().queues(limit=0))
    expect_error(zerrors.MalformedRequest, n.q(name).post, {"body": 1, "ttl": 59})
    expect_error(zerrors.MalformedRequest, n.q(name).metadata, new_meta={"_default_message_ttl": 30})
    assert [m.body for m in listed(n.q(name), echo=True)] == ["a"]
    n.q(name).delete()


# ---------------------------------------------------------------- claims


@test
def claim_lifecycle(n):
    name = qname("claim")
    post_bodies(n, name, ["a", "b", "c"])
    cl = n.q(name).claim(ttl=120, grace=60, limit=2)
    assert cl.id, "no claim id"
    msgs = list(cl)
    assert [m.body for m in msgs] == ["a", "b"], [m.body for m in msgs]
    for m in msgs:
        assert m.claim_id == cl.id, (m.href, cl.id)
    # GET the claim through another node
    got = zclaim.Claim(n.q(name), id=cl.id)
    assert got.ttl == 120, got.ttl
    assert sorted(m.body for m in got) == ["a", "b"]
    age = n.claim(got, name).age  # each .age is a GET
    assert 0 <= age <= 10, age
    # claimed messages are hidden from listing unless include_claimed
    vis = listed(n.q(name), echo=True)
    assert [m.body for m in vis] == ["c"], [m.body for m in vis]
    inc = listed(n.q(name), echo=True, include_claimed=True)
    assert [m.body for m in inc] == ["a", "b", "c"], [m.body for m in inc]
    # renew
    n.claim(cl, name).update(ttl=300, grace=90)
    fresh = zclaim.Claim(n.q(name), id=cl.id)
    assert fresh.ttl == 300, "ttl after update %s" % fresh.ttl
    # a second claim gets the remaining message only
    cl2 = n.q(name).claim(ttl=60, grace=60)
    assert [m.body for m in cl2] == ["c"]
    # release: 404 afterwards, messages visible again
    n.claim(cl, name).delete()
    expect_error(zerrors.ResourceNotFound, lambda: zclaim.Claim(n.q(name), id=cl.id).ttl)
    vis = listed(n.q(name), echo=True)
    assert [m.body for m in vis] == ["a", "b"], [m.body for m in vis]
    n.claim(cl2, name).delete()
    n.q(name).delete()


@test
def claim_delete_message(n):
    name = qname("claimdel")
    ids = post_bodies(n, name, ["a", "b"])
    cl = n.q(name).claim(ttl=120, grace=60, limit=2)
    msgs = list(cl)
    assert len(msgs) == 2, msgs
    # without the claim id: 403
    req, trans = n.next()._request_and_transport()
    from zaqarclient.queues.v2 import core
    expect_error(zerrors.ForbiddenError, core.message_delete, trans, req, name, msgs[0].id)
    # with it (Message.delete sends ?claim_id= from its href): 204
    n.msg(msgs[0], name).delete()
    expect_error(zerrors.ResourceNotFound, n.q(name).message, msgs[0].id)
    # a made-up claim id is rejected (400 malformed/unknown claim, or 403
    # claimed by another claim; see ZAQAR-API.md 1.3.7) and the message survives
    req, trans = n.next()._request_and_transport()
    expect_error((zerrors.MalformedRequest, zerrors.ForbiddenError), core.message_delete, trans, req,
                 name, msgs[1].id, claim_id="invalid")
    assert n.q(name).message(msgs[1].id).body == "b"
    assert sorted(ids) == sorted(m.id for m in msgs)
    n.q(name).delete()


@test
def claim_extends_message_ttl(n):
    # A claim that outlives a message extends it to claim ttl + grace
    # (ZAQAR-API.md 4.3); messages that outlive the claim keep their ttl.
    name = qname("claimttl")
    short = post_bodies(n, name, ["short"], ttl=60)[0]
    long_ = post_bodies(n, name, ["long"], ttl=3600)[0]
    cl = n.q(name).claim(ttl=120, grace=60)
    assert sorted(m.body for m in cl) == ["long", "short"]
    assert n.q(name).message(short).ttl == 180, n.q(name).message(short).ttl
    assert n.q(name).message(long_).ttl == 3600
    n.claim(cl, name).delete()
    n.q(name).delete()


@test
def claim_age_grows(n):
    name = qname("claimage")
    post_bodies(n, name, ["a"])
    cl = n.q(name).claim(ttl=120, grace=60)
    a0 = zclaim.Claim(n.q(name), id=cl.id).age
    time.sleep(2.1)
    a1 = zclaim.Claim(n.q(name), id=cl.id).age
    assert a1 >= a0 + 2, "claim age %d then %d after 2.1 s" % (a0, a1)
    n.claim(cl, name).update(ttl=120)
    a2 = zclaim.Claim(n.q(name), id=cl.id).age
    assert a2 < a1, "renew did not reset claim age (%d -> %d)" % (a1, a2)
    n.q(name).delete()


@test
def claim_empty_queue(n):
    name = qname("claimempty")
    cl = n.q(name).claim(ttl=60, grace=60)  # 204: no body
    assert cl.id is None, cl.id
    assert list(cl) == []
    post_bodies(n, name, ["a"])
    n.q(name).claim(ttl=60, grace=60)
    cl = n.q(name).claim(ttl=60, grace=60)  # everything claimed: 204 again
    assert cl.id is None and list(cl) == []
    n.q(name).delete()


@test
def claim_without_ttl_grace(n):
    # q.claim() without ttl/grace makes zaqarclient send {"ttl": null,
    # "grace": null}. Zaqar's type check answers 400 for that; either a 400
    # or "null means the default" is acceptable. Record which one we got.
    name = qname("claimnull")
    post_bodies(n, name, ["a"])
    try:
        cl = n.q(name).claim()
    except zerrors.MalformedRequest as e:
        n.q(name).delete()
        return "server rejected null ttl/grace with 400 (%s)" % e
    assert cl.id and [m.body for m in cl] == ["a"]
    assert zclaim.Claim(n.q(name), id=cl.id).ttl == 300, "default claim ttl"
    n.q(name).delete()
    return "server treated null ttl/grace as the defaults"


# ---------------------------------------------------------------- signed URLs


def signed_client(n, sig, url=None):
    opts = {"paths": sig["paths"], "expires": sig["expires"], "methods": sig["methods"],
            "signature": sig["signature"], "os_project_id": sig["project"]}
    conf = {"auth_opts": {"backend": "signed-url", "options": opts}}
    return zclient.Client(url or n.next_url(), version=2, conf=conf)


@test
def signed_url_list_messages(n):
    name = qname("signed")
    post_bodies(n, name, ["Post It!"])
    sig = n.q(name).signed_url(paths=["messages"], ttl_seconds=3600, methods=["GET"])
    assert sig["project"] == n.project, sig
    assert sig["paths"] == ["/v2/queues/%s/messages" % name], sig
    assert sig["methods"] == ["GET"], sig
    assert len(sig["signature"]) == 64, sig
    guest = signed_client(n, sig)
    got = [m.body for m in guest.queue(name).messages()]
    assert got == ["Post It!"], got
    # the grant is for GET on this queue's messages only
    expect_error(zerrors.ResourceNotFound, signed_client(n, sig).queue(name).post, {"body": 1})
    expect_error(zerrors.ResourceNotFound, lambda: list(signed_client(n, sig).queue(qname("other")).messages()))
    bad = dict(sig, signature="0" * 64)
    expect_error(zerrors.ResourceNotFound, lambda: list(signed_client(n, bad).queue(name).messages()))
    n.q(name).delete()


@test
def signed_url_defaults(n):
    name = qname("signed-default")
    post_bodies(n, name, ["hello"])
    sig = n.q(name).signed_url()  # body {}: paths messages, methods GET, expires now + 1 day
    assert sig["methods"] == ["GET"] and sig["paths"] == ["/v2/queues/%s/messages" % name], sig
    exp = datetime.datetime.strptime(sig["expires"][:19], "%Y-%m-%dT%H:%M:%S")
    left = exp - datetime.datetime.utcnow()
    assert datetime.timedelta(hours=23) < left <= datetime.timedelta(hours=24, minutes=5), sig["expires"]
    got = [m.body for m in signed_client(n, sig).queue(name).messages()]
    assert got == ["hello"], got
    n.q(name).delete()


@test
def signed_url_project_id_key_rejected(n):
    # zaqarclient 2.4's Queue.signed_url() never sends project_id, but its
    # core.signed_url_create(project_id=...) does; Zaqar (and Herald) reject
    # the unknown key with 400 (ZAQAR-API.md 1.2.8).
    from zaqarclient.queues.v2 import core
    req, trans = n.next()._request_and_transport()
    e = expect_error(zerrors.MalformedRequest, core.signed_url_create, trans, req, qname("share"),
                     project_id=n.project)
    assert "project_id" in str(e), e


@test
def signed_url_post_and_claim(n):
    name = qname("signed-rw")
    sig = n.q(name).signed_url(paths=["messages", "claims"], ttl_seconds=600, methods=["GET", "POST", "DELETE"])
    assert sig["paths"] == sorted(["/v2/queues/%s/messages" % name, "/v2/queues/%s/claims" % name]), sig
    guest = signed_client(n, sig)
    guest.queue(name).post([{"body": "via-signed", "ttl": 300}])
    cl = signed_client(n, sig).queue(name).claim(ttl=60, grace=60)
    assert [m.body for m in cl] == ["via-signed"]
    cl._queue = signed_client(n, sig).queue(name)
    cl.delete()
    n.q(name).delete()


# ---------------------------------------------------------------- subscriptions


class Sink:
    """A webhook receiver on 127.0.0.1 that records every POST body."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []  # (headers dict, parsed body)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.got.append((dict(self.headers), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def bodies(self):
        with self.lock:
            return [b for _, b in self.got]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@test
def subscription_crud(n):
    name = qname("subs")
    a = n.next().subscription(name, subscriber="http://127.0.0.1:9/a", ttl=3600)
    b = n.next().subscription(name, subscriber="mailto:ops@example.com", ttl=7200,
                              options={"subject": "herald"})
    assert a.id and b.id and a.id != b.id, (a.id, b.id)
    dup = n.next().subscription(name, subscriber="http://127.0.0.1:9/a", ttl=3600)
    assert dup.id == a.id, "duplicate of an unconfirmed subscription must return its id"
    subs = list(n.next().subscriptions(name))
    assert sorted(s.id for s in subs) == sorted([a.id, b.id]), [s.id for s in subs]
    got = {s.id: s for s in subs}
    assert got[b.id].ttl == 7200 and got[b.id].options == {"subject": "herald"}, vars(got[b.id])
    assert all(s.queue_name == name for s in subs)
    a.client = n.next()
    a.update({"subscriber": "http://127.0.0.1:9/moved", "ttl": 600})
    again = n.next().subscription(name, id=a.id, auto_create=False)
    again.ensure_exists()
    assert again.subscriber == "http://127.0.0.1:9/moved" and again.ttl == 600, vars(again)
    a.client = n.next()
    a.delete()
    gone = n.next().subscription(name, id=a.id, auto_create=False)
    expect_error(zerrors.ResourceNotFound, gone.ensure_exists)


@test
def subscription_webhook_delivery(n):
    name = qname("push")
    sink = Sink()
    try:
        sub = n.next().subscription(name, subscriber=sink.url, ttl=600)
        assert sub.id
        posted = []
        for k in range(3):  # each post through a different node
            bodies = [{"k": k, "i": i} for i in range(3)]
            post_bodies(n, name, bodies)
            posted += bodies
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = sink.bodies()
            if all(p in [g["body"] for g in got] for p in posted):
                break
            time.sleep(0.1)
        got = sink.bodies()
        missing = [p for p in posted if p not in [g["body"] for g in got]]
        assert not missing, "not delivered within 30s: %s (got %d)" % (missing, len(got))
        first = got[0]
        assert set(first) == {"body", "ttl", "queue_name", "Message_Type"}, first
        assert first["queue_name"] == name and first["Message_Type"] == "Notification", first
        order = [(g["body"]["k"], g["body"]["i"]) for g in got]
        firsts = sorted(set(order), key=order.index)
        assert firsts == sorted(firsts), "first deliveries out of order: %s" % firsts
        return "%d deliveries of %d messages" % (len(got), len(posted))
    finally:
        sink.close()


# ---------------------------------------------------------------- runner


def _alarm(signum, frame):
    raise TestTimeout("test timed out")


def parse_urls(argv):
    raw = argv[1:] or os.environ.get("HERALD_E2E_URLS", "").replace(",", " ").split()
    return [u.rstrip("/") for u in raw if u.strip()]


def main(argv):
    urls = parse_urls(argv)
    if not urls:
        print("usage: %s URL [URL...]  (or HERALD_E2E_URLS)" % argv[0], file=sys.stderr)
        return 2
    no_proxy = os.environ.get("no_proxy", os.environ.get("NO_PROXY", ""))
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(x for x in (no_proxy, "127.0.0.1,localhost") if x)
    socket.setdefaulttimeout(30)
    per_test = int(os.environ.get("HERALD_E2E_TIMEOUT", "60"))
    only = os.environ.get("HERALD_E2E_FILTER", "")
    verbose = os.environ.get("HERALD_E2E_VERBOSE") == "1"
    signal.signal(signal.SIGALRM, _alarm)

    project = "e2e-" + uuid.uuid4().hex[:12]
    nodes = Nodes(urls, project, uuid.uuid4().hex)
    print("zaqarclient e2e: %d node(s) %s, project %s" % (len(urls), " ".join(urls), project), flush=True)
    passed = failed = 0
    for fn in TESTS:
        name = fn.__name__
        if only and only not in name:
            continue
        start = time.monotonic()
        signal.alarm(per_test)
        try:
            note = fn(nodes)
            signal.alarm(0)
        except BaseException as e:  # noqa: B902 - report everything, incl. timeouts
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            failed += 1
            reason = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f for f in reversed(tb) if f.filename == os.path.abspath(__file__)
                          or f.filename.endswith("zaqarclient_e2e.py")), None)
            if where is not None:
                reason += " (line %d: %s)" % (where.lineno, (where.line or "").strip())
            print("FAIL %s: %s" % (name, " ".join(reason.split())), flush=True)
            if verbose:
                traceback.print_exc()
            continue
        passed += 1
        extra = " (%s)" % note if note else ""
        print("PASS %s [%.1fs]%s" % (name, time.monotonic() - start, extra), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
