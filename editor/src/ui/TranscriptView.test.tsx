// Node environment: the markup by server rendering.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { answerOf, formatUsd, reduceTranscript, stepsFromEvents, usageLine } from "./transcript";
import { TranscriptView } from "./TranscriptView";

const ev = (seq: number, type: string, data: unknown) => ({ seq, type, node: "a", data });

describe("TranscriptView", () => {
  it("shows the prompt, the tool call with its result, the final answer and the totals", () => {
    const t = reduceTranscript(
      stepsFromEvents(
        [
          ev(1, "agent.turn", { turn: 1, model: "m", sent: [{ role: "system", content: "Be brief." }, { role: "user", content: "Where is A1?" }], content: null, tool_calls: [{ id: "c1", name: "lookup", arguments: { id: "A1" } }], usage: { input_tokens: 100, output_tokens: 20 }, cost_usd: 0.0001 }),
          ev(2, "agent.tool_call", { tool: "lookup", call_id: "c1", arguments: { id: "A1" } }),
          ev(3, "agent.tool_result", { tool: "lookup", call_id: "c1", ok: true, result: { status: 200, body: "shipped" } }),
          ev(4, "agent.turn", { turn: 2, model: "m", sent: [{ role: "tool", tool_call_id: "c1", content: '{"body": "shipped", "status": 200}' }], content: "It shipped.", tool_calls: [], usage: { input_tokens: 150, output_tokens: 5 }, cost_usd: 0.0002 }),
        ],
        "a",
      ),
    );
    const html = renderToStaticMarkup(<TranscriptView transcript={t} />);
    expect(html).toContain('data-testid="transcript-sent-1-1"');
    expect(html).toContain("Where is A1?");
    expect(html).not.toContain('data-testid="transcript-sent-2-0"'); // the tool result shows under its call
    expect(html).toMatch(/data-testid="transcript-tool-c1" data-status="ok"/);
    expect(html).toContain("shipped");
    expect(html).toMatch(/data-testid="transcript-final".*It shipped\./);
    expect(html).toContain("100 in · 20 out · $0.0001");
    expect(html).toContain("250 in · 25 out · 275 tokens");
    expect(usageLine(t)).toBe("2 turns · 275 tokens · $0.0003");
  });

  it("marks a streaming answer and says when nothing was asked yet", () => {
    const live = reduceTranscript(stepsFromEvents([ev(1, "agent.delta", { turn: 1, text: "Hel" })], "a"));
    expect(renderToStaticMarkup(<TranscriptView transcript={live} />)).toMatch(/data-streaming="true".*Hel.*data-testid="transcript-streaming"/);
    expect(renderToStaticMarkup(<TranscriptView transcript={reduceTranscript([])} />)).toContain("has not been asked yet");
  });

  it("formats costs and previews an agent's answer", () => {
    expect([formatUsd(0), formatUsd(0.000073), formatUsd(0.0011), formatUsd(1.234), formatUsd(null), formatUsd(1.5e-7), formatUsd(0.00018)]).toEqual(["$0", "$0.000073", "$0.0011", "$1.23", "", "$0.00000015", "$0.00018"]);
    expect(answerOf({ output: "hi", text: "hi", turns: 1, tool_calls: [], usage: {} })).toBe("hi");
    expect(answerOf({ output: 1 })).toEqual({ output: 1 });
  });
});
