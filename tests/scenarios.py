"""Canned outside worlds for the examples: one scenario per example, shared by compiler and runtime tests.

A scenario is the run input plus what the outside world answers (HTTP by method and URL prefix, kv state,
the approval decision). The same scenario drives the in-process fake host, wasmtime and the Node bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fakehost import FakeHost, Refuse, response


@dataclass
class Scenario:
    example: str
    input: Any
    routes: list[tuple[str, str, Any]]  # (method, url prefix, response dict or callable(request) -> response)
    kv: dict = field(default_factory=dict)
    approval: dict | None = None

    def http(self, request: dict) -> dict:
        for method, prefix, answer in self.routes:
            if request["method"] == method and request["url"].startswith(prefix):
                return answer(request) if callable(answer) else answer
        raise Refuse("network", f"no route for {request['method']} {request['url']}", retriable=True)

    def host(self) -> FakeHost:
        return FakeHost(http=self.http, kv=self.kv, approval=self.approval)


def _erp_line(request: dict) -> dict:
    body = request["body"]
    if body["sku"] == "SKU-DUP":
        return response(409, {"error": "line already exists"})
    return response(201, {"id": f"erp-{body['external_order_id']}-{body['sku']}"})


SCENARIOS: dict[str, Scenario] = {
    "order-sync": Scenario(
        example="order-sync",
        input={"since": "2026-11-01"},
        routes=[
            (
                "GET",
                "https://shop.example.com/api/orders",
                response(
                    200,
                    {
                        "orders": [
                            {
                                "id": "o-1001",
                                "lines": [
                                    {"sku": "SKU-A", "quantity": 2, "price": 9.5},
                                    {"sku": "SKU-B", "quantity": 1, "price": 20.0},
                                ],
                            },
                            {"id": "o-1002", "lines": [{"sku": "SKU-DUP", "quantity": 3, "price": 4.0}]},
                            {
                                "id": "o-1003",
                                "lines": [
                                    {"sku": "SKU-C", "quantity": 1, "price": 99.0},
                                    {"sku": "SKU-D", "quantity": 5, "price": 1.25},
                                    {"sku": "SKU-E", "quantity": 1, "price": 3.0},
                                ],
                            },
                        ]
                    },
                ),
            ),
            ("POST", "https://erp.example.com/api/v2/order-lines", _erp_line),
        ],
    ),
    "webhook-approval": Scenario(
        example="webhook-approval",
        input={
            "method": "POST",
            "path": "/hooks/webhook-approval",
            "headers": {"content-type": "application/json"},
            "query": {},
            "body": {
                "ticket_id": 4711,
                "customer_id": "c-42",
                "amount": 120,
                "currency": "EUR",
                "reason": "parcel arrived damaged",
            },
        },
        routes=[
            (
                "GET",
                "https://crm.example.com/api/customers/c-42",
                response(
                    200,
                    {"name": "Ada Lovelace", "created_at": "2019-04-02T08:00:00Z", "lifetime_value": 4820.5},
                ),
            ),
            ("POST", "https://hooks.example.com/support/refunds", response(200, {"ok": True})),
        ],
        approval={
            "approved": True,
            "decision": "approved",
            "by": "finance@example.com",
            "reason": "loyal customer",
            "decided_at": "2026-11-21T10:05:00Z",
        },
    ),
    "daily-report": Scenario(
        example="daily-report",
        input={"scheduled_at": "2026-11-23T07:00:00+00:00"},
        routes=[
            (
                "GET",
                "https://metrics.example.com/api/v1/sales/daily",
                response(200, {"orders": 130, "revenue": 5210.5, "refunds": 2}),
            ),
            ("POST", "https://hooks.example.com/chat/", response(200, {"ok": True})),
        ],
        kv={("reports", "daily-sales"): {"orders": 100, "revenue": 5000.0, "refunds": 4, "text": "old"}},
    ),
    "lead-routing": Scenario(
        example="lead-routing",
        input={"email": "cto@bigcorp.example.com", "company": "BigCorp", "employees": 5000},
        routes=[("POST", "https://crm.example.com/api/leads", response(201, {"lead_id": "L-1"}))],
        kv={("lead-counters", "enterprise"): 41},
    ),
}
