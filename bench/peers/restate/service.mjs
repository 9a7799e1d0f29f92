// The Restate side of bench/peers.py: one service, two handlers, served by the Restate TypeScript SDK's
// Node endpoint on 127.0.0.1:$PORT (HTTP/2 cleartext; restate-server calls it).
//
// Each workflow node is a journaled step (ctx.run), as each node is in wasmflow and each step is in DBOS:
//   three:  shape -> label                       (workload a)
//   effect: shape -> POST to the side-effect server -> label   (workload b; the fetch inside ctx.run)
import * as restate from "@restatedev/restate-sdk";

// The SDK calls Promise.withResolvers (Node 22+) at invocation time; this machine has Node 20.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const port = Number(process.env.PORT || 9080);

function shape(req) {
  return { id: req.i, total: req.i * 2 };
}

function label(s) {
  return { label: "order-" + String(s.id), big: s.total > 10 };
}

const peers = restate.service({
  name: "peers",
  handlers: {
    three: async (ctx, req) => {
      const s = await ctx.run("shape", () => shape(req));
      return await ctx.run("label", () => label(s));
    },
    effect: async (ctx, req) => {
      const s = await ctx.run("shape", () => shape(req));
      await ctx.run("call", async () => {
        const r = await fetch(process.env.EFFECT_URL, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ key: "order-" + String(s.id), id: s.id, total: s.total }),
        });
        if (!r.ok) throw new Error("side-effect server answered " + r.status);
        return await r.json();
      });
      return await ctx.run("label", () => label(s));
    },
  },
});

restate.endpoint().bind(peers).listen(port);
