// The Settings area (#/settings/<tab>): users (admins only), API tokens and secrets, each a screen of its own
// (SettingsUsers, SettingsTokens, SettingsSecrets) under one top bar and tab row, styled like the Runs page.
// The tab row lists what the role may use; a tab reached by URL anyway shows the server's 403 as it is.
import { useEffect } from "react";
import { useSession } from "../lib/session";
import { settingsHash, settingsTabOf, TAB_LABELS, visibleTabs, type SettingsTab } from "./settings";
import { SettingsSecrets } from "./SettingsSecrets";
import { SettingsTokens } from "./SettingsTokens";
import { SettingsUsers } from "./SettingsUsers";
import { SiteNav } from "./SiteNav";
import { Toasts, useToasts } from "./Toasts";
import { UserMenu } from "./UserMenu";

export function SettingsPage({ hash }: { hash: string }) {
  const session = useSession();
  const tabs = visibleTabs(session);
  const asked = settingsTabOf(hash);
  const tab: SettingsTab = asked ?? tabs[0];
  const { toasts, toast } = useToasts();
  useEffect(() => {
    if (!asked) history.replaceState(null, "", settingsHash(tab)); // #/settings opens the first tab
  }, [asked, tab]);
  return (
    <div className="wf-home">
      <header className="wf-topbar">
        <SiteNav active="settings" />
        <div className="wf-grow" />
        <UserMenu />
      </header>
      <main className="wf-home-main wf-settings-page" data-testid="settings-page" data-tab={tab}>
        <h1>Settings</h1>
        <nav className="wf-settings-tabs" role="tablist">
          {tabs.map((t) => (
            <a key={t} href={settingsHash(t)} role="tab" aria-selected={t === tab} className={`wf-settings-tab${t === tab ? " is-active" : ""}`} data-testid={`settings-tab-${t}`}>
              {TAB_LABELS[t]}
            </a>
          ))}
        </nav>
        {tab === "users" ? <SettingsUsers toast={toast} /> : tab === "tokens" ? <SettingsTokens toast={toast} /> : <SettingsSecrets toast={toast} />}
      </main>
      <Toasts toasts={toasts} />
    </div>
  );
}
