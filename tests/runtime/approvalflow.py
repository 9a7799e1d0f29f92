"""The one workflow the approval tests compile: trigger -> approval -> branch on its decision."""

NAME = "approval-branch"
DOC = {
    "dsl": "wasmflow/1",
    "name": NAME,
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "approve_x",
            "type": "approval",
            "config": {"title": "Ship {{ input['n'] }}?", "timeout": "1h", "timeout_action": "approve"},
        },
        {"id": "check", "type": "branch", "config": {"condition": "approve_x['approved']"}},
        {"id": "ship", "type": "transform", "config": {"expression": "'shipped'"}},
        {"id": "hold", "type": "transform", "config": {"expression": "'held'"}},
    ],
    "edges": [
        {"from": "start", "to": "approve_x"},
        {"from": "approve_x", "to": "check"},
        {"from": "check", "to": "ship", "port": "true"},
        {"from": "check", "to": "hold", "port": "false"},
    ],
}
