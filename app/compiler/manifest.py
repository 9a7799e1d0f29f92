"""The capability manifest of a workflow, computed at compile time and granted exactly at run time.

It lists the host functions the component imports, the HTTP hosts it may reach (from its static URLs, or
from ``allowed_hosts`` where the host part is an expression), the secret names the host may inject and
the kv namespaces and child workflows it uses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from app import capabilities
from app.capabilities import Manifest
from app.compiler.codegen import required_capabilities, tool_kind
from app.dsl import iter_nodes, split_template


def static_host(url_template: str) -> str | None:
    """The host of a URL template when it is literal text, else None (the host is an expression)."""
    parts = split_template(url_template)
    prefix = ""
    for kind, text in parts:
        if kind != "text":
            break
        prefix += text
    whole = len(parts) == 1 and parts[0][0] == "text"
    scheme_end = prefix.find("://")
    if scheme_end < 0:
        return None
    rest = prefix[scheme_end + 3 :]
    # The host is literal only if the literal text reaches past it (a "/", "?" or "#", or the end of a literal URL).
    if not whole and not any(sep in rest for sep in "/?#"):
        return None
    host = urlsplit(prefix if whole else prefix.split("?")[0]).hostname
    return host.lower() if host else None


def agent_entry(config: dict[str, Any]) -> dict[str, Any]:
    """An agent node's part of the manifest: its model connection and its tool table, what the host serves
    llm.chat from and checks each tool call against."""
    model = config["model"]
    tools: dict[str, Any] = {}
    for tool in config.get("tools") or ():
        kind = tool_kind(tool)
        entry: dict[str, Any] = {
            "kind": kind,
            "description": tool["description"],
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        if kind == "http":
            entry["method"] = tool["http"].get("method", "GET")
            entry["hosts"] = [static_host(tool["http"]["url"])]
            entry["secret"] = (tool["http"].get("auth") or {}).get("secret")
        elif kind == "subflow":
            entry["workflow"] = tool["subflow"]["workflow"]
        else:
            entry["namespace"] = tool["kv"]["namespace"]
        if tool.get("max_calls") is not None:
            entry["max_calls"] = tool["max_calls"]
        tools[tool["name"]] = entry
    return {
        "base_url": model["base_url"],
        "model": model["model"],
        "api_key_secret": model.get("api_key_secret"),
        "temperature": model.get("temperature"),
        "max_output_tokens": model.get("max_output_tokens"),
        "stream": model.get("stream", True),
        "prices": model.get("prices"),
        "tools": tools,
    }


def compute_manifest(doc: dict[str, Any]) -> Manifest:
    # The capability list comes from the code generator: exactly the interfaces the guest module imports.
    caps = required_capabilities(doc)
    hosts: set[str] = set()
    secrets: set[str] = set()
    namespaces: set[str] = set()
    workflows: set[str] = set()
    agents: dict[str, Any] = {}
    for _pointer, node, _map in iter_nodes(doc):
        ntype = node.get("type")
        config = node.get("config") or {}
        if ntype == "http.request":
            host = static_host(config.get("url", ""))
            if host:
                hosts.add(host)
            hosts.update(h.lower() for h in config.get("allowed_hosts") or ())
            auth = config.get("auth")
            if auth and auth.get("secret"):
                secrets.add(auth["secret"])
        elif ntype in ("kv.get", "kv.set"):
            namespaces.add(config["namespace"])
        elif ntype == "subflow":
            workflows.add(config["workflow"])
        elif ntype == "agent":
            entry = agents[node["id"]] = agent_entry(config)
            host = urlsplit(entry["base_url"]).hostname
            if host:
                hosts.add(host.lower())
            if entry["api_key_secret"]:
                secrets.add(entry["api_key_secret"])
            for tool in config.get("tools") or ():
                if tool.get("http") is not None:
                    hosts.update(h for h in agents[node["id"]]["tools"][tool["name"]]["hosts"] if h)
                    auth = tool["http"].get("auth")
                    if auth and auth.get("secret"):
                        secrets.add(auth["secret"])
                elif tool.get("subflow") is not None:
                    workflows.add(tool["subflow"]["workflow"])
                else:
                    namespaces.add(tool["kv"]["namespace"])
    for name in caps:
        capabilities.get(name)  # every name must be in the table
    return Manifest(
        capabilities=tuple(sorted(caps)),
        hosts=tuple(sorted(hosts)),
        secrets=tuple(sorted(secrets)),
        namespaces=tuple(sorted(namespaces)),
        workflows=tuple(sorted(workflows)),
        agents=agents,
        limits={k: doc["settings"][k] for k in ("timeout_seconds", "memory_mb")},
    )
