// Extension point for pages that belong to other capabilities. Each entry is shown when the server's admin
// API has the route it needs (GET /pier/api/v1/session lists them as `features`), so a page appears as soon as
// its API does:
//
//   - webhooks and their delivery log, with "send test event" → a `webhooks` route file in src/http/admin/
//   - builds with their history and live logs                 → a `builds` route file in src/http/admin/
//
// To add one: write the page in pages/, add it to EXTENSIONS below with the feature (route id) it needs, and
// add its path to the router in main.tsx (`extensionRoute`).
import type { ComponentType } from 'preact';
import type { Session } from './api.ts';

export interface ExtensionPage {
  /** Hash path, e.g. `/webhooks`. */
  path: string;
  label: string;
  /** The admin API route id that must exist for the page to show (e.g. `admin-webhooks`). */
  feature: string;
  adminOnly: boolean;
  page: () => Promise<ComponentType<{ session: Session; route: string }>>;
}

export const EXTENSIONS: ExtensionPage[] = [
  { path: '/webhooks', label: 'Webhooks', feature: 'admin-webhooks', adminOnly: true, page: () => import('./pages/webhooks.tsx').then((m) => m.WebhooksPage) },
  // Both resources are admins-only on the server, so the page is too.
  { path: '/builds', label: 'Builds', feature: 'admin-builds', adminOnly: true, page: () => import('./pages/builds.tsx').then((m) => m.BuildsPage) },
];

export function extensionPages(session: Session): ExtensionPage[] {
  return EXTENSIONS.filter((e) => session.features.includes(e.feature) && (!e.adminOnly || session.admin));
}
