#!/usr/bin/env python3
"""Benchmark input (issue 14, `scripts/bench-pytm.sh`): the system of `system.yaml` written for
pytm (PyPI `pytm`), so both tools draft the same 20 components and 24 flows side by side.
Run: `python3 pytm_system.py --json out.json`. Keep the two files in step."""

from pytm import (
    TM,
    Actor,
    Boundary,
    Classification,
    Data,
    Dataflow,
    Datastore,
    ExternalEntity,
    Process,
    Server,
    TLSVersion,
)

tm = TM("Bench shop")
tm.description = "A 20-component, 24-flow web shop (the tmc bench system)."
tm.isOrdered = True

internet = Boundary("Internet")
edge = Boundary("Edge")
vpc = Boundary("Shop VPC")
data_tier = Boundary("Data tier")


def element(cls, name, boundary, **attrs):
    e = cls(name)
    e.inBoundary = boundary
    for key, value in attrs.items():
        setattr(e, key, value)
    return e


customer = element(Actor, "Customer", internet)
staff = element(Actor, "Staff", internet)
psp = element(ExternalEntity, "Payment provider", internet)
cdn = element(Server, "CDN", edge)
waf = element(Server, "WAF", edge)
lb = element(Server, "Load balancer", edge)
web = element(Server, "Storefront", edge)
api = element(Server, "Shop API", vpc)
auth = element(Server, "Identity provider", vpc)
checkout = element(Process, "Checkout service", vpc)
webhook = element(Server, "Payment webhook receiver", edge)
worker = element(Process, "Order worker", vpc)
admin = element(Server, "Back office", vpc)
search = element(Process, "Search service", vpc)
mailer = element(Process, "Mailer", vpc)
orders_db = element(Datastore, "Orders database", data_tier)
users_db = element(Datastore, "Users database", data_tier)
cache = element(Datastore, "Session cache", data_tier)
queue = element(Datastore, "Order queue", data_tier)
bucket = element(Datastore, "Media bucket", data_tier)

credentials = Data("Credentials", classification=Classification.SECRET, isCredentials=True)
orders = Data("Orders", classification=Classification.SENSITIVE, isPII=True, isStored=True)
profiles = Data("Profiles", classification=Classification.SENSITIVE, isPII=True, isStored=True)

TLS13, TLS12, NONE = TLSVersion.TLSv13, TLSVersion.TLSv12, TLSVersion.NONE
FLOWS = [
    ("f01", customer, cdn, "HTTPS", TLS13, None),
    ("f02", cdn, waf, "HTTPS", TLS12, None),
    ("f03", waf, lb, "HTTPS", TLS12, None),
    ("f04", lb, web, "HTTP", NONE, None),
    ("f05", web, api, "HTTPS", TLS12, orders),
    ("f06", customer, auth, "HTTPS", TLS13, credentials),
    ("f07", api, auth, "HTTPS", TLS12, None),
    ("f08", api, checkout, "gRPC", TLS12, orders),
    ("f09", checkout, psp, "HTTPS", TLS12, None),
    ("f10", psp, webhook, "HTTPS", TLS12, None),
    ("f11", webhook, queue, "AMQP", NONE, None),
    ("f12", checkout, queue, "AMQP", NONE, orders),
    ("f13", queue, worker, "AMQP", NONE, orders),
    ("f14", worker, orders_db, "SQL", TLS12, orders),
    ("f15", api, orders_db, "SQL", TLS12, orders),
    ("f16", api, users_db, "SQL", TLS12, profiles),
    ("f17", api, cache, "TCP", NONE, None),
    ("f18", web, bucket, "HTTPS", TLS12, None),
    ("f19", staff, admin, "HTTPS", TLS12, credentials),
    ("f20", admin, orders_db, "SQL", TLS12, orders),
    ("f21", api, search, "HTTP", NONE, None),
    ("f22", worker, mailer, "AMQP", NONE, profiles),
    ("f23", mailer, customer, "SMTP", TLS12, None),
    ("f24", auth, users_db, "SQL", TLS12, credentials),
]
for name, src, dst, protocol, tls, data in FLOWS:
    flow = Dataflow(src, dst, name)
    flow.protocol = protocol
    flow.tlsVersion = tls
    if data is not None:
        flow.data = data

if __name__ == "__main__":
    tm.process()
