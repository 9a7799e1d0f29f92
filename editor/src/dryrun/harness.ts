// Entry of editor/dryrun.html: exposes the dry-run runtime to the Chromium tests as window.wasmflowDryRun.
import { mocksFromRun, reduceNodes, startDryRun } from "./index";

declare global {
  interface Window {
    wasmflowDryRun: { startDryRun: typeof startDryRun; mocksFromRun: typeof mocksFromRun; reduceNodes: typeof reduceNodes };
  }
}

window.wasmflowDryRun = { startDryRun, mocksFromRun, reduceNodes };
document.body.dataset.ready = "1";
