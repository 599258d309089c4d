/**
 * Where each resource of a kind runs, when the user may pin it (`hostId`) or leave the choice to
 * the plugin: in creation (id) order, a pinned one counts on its host; an unpinned one goes to
 * the host with the fewest so far (ties: the lowest host id). A resource's host depends only on
 * those created before it, so creating more never moves one (UUIDv7 ids sort by creation).
 */
export function spreadOverHosts(resources: readonly { id: string; hostId?: string | null }[], hostIds: readonly string[]): Map<string, string> {
  const hosts = [...hostIds].sort();
  const count = new Map(hosts.map((h) => [h, 0]));
  const chosen = new Map<string, string>();
  for (const r of [...resources].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    let host = r.hostId ?? undefined;
    if (!host) {
      for (const h of hosts) if (host === undefined || count.get(h)! < count.get(host)!) host = h;
    }
    if (!host) continue;
    chosen.set(r.id, host);
    count.set(host, (count.get(host) ?? 0) + 1);
  }
  return chosen;
}
