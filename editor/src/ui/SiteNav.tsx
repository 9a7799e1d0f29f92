// The logo and the two pages outside the editor: the workflows list and the runs of all workflows.

export function SiteNav({ active }: { active: "workflows" | "runs" }) {
  return (
    <>
      <a href="#/" className="wf-logo" data-testid="link-home" title="All workflows">
        <span className="wf-logo-mark">◆</span> wasmflow
      </a>
      <nav className="wf-nav">
        <a href="#/" className={`wf-nav-link${active === "workflows" ? " is-active" : ""}`} data-testid="nav-workflows">
          Workflows
        </a>
        <a href="#/runs" className={`wf-nav-link${active === "runs" ? " is-active" : ""}`} data-testid="link-runs">
          Runs
        </a>
      </nav>
    </>
  );
}
