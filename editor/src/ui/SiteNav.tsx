// The logo and the pages outside the editor: the workflows list, the runs of all workflows, and Settings
// (users, API tokens, secrets).

export function SiteNav({ active }: { active: "workflows" | "runs" | "settings" }) {
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
        <a href="#/settings" className={`wf-nav-link${active === "settings" ? " is-active" : ""}`} data-testid="nav-settings">
          Settings
        </a>
      </nav>
    </>
  );
}
