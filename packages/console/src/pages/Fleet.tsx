import { useState, type ReactNode } from 'react';
import { api, type AppView, type Device } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { ago, duration, ErrorNote, isNotFoundRoute, useLoad } from '../ui';

export type DeviceStatus = 'online' | 'offline' | 'compromised' | 'not registered' | 'deregistered';

export function statusOf(d: Device): DeviceStatus {
  if (d.state === 'deregistered') return 'deregistered';
  if (d.integrity === 'compromised') return 'compromised';
  if (d.state === 'provisioned') return 'not registered';
  return d.online ? 'online' : 'offline';
}

export function StatusBadge({ device }: { device: Device }): ReactNode {
  const s = statusOf(device);
  const text = s === 'offline' ? `offline for ${device.offlineForSeconds === null ? 'ever' : duration(device.offlineForSeconds)}` : s;
  return <span className={`badge badge-${s.replace(' ', '-')}`}>{text}</span>;
}

function updateText(d: Device): string {
  const newer = d.updateAvailable ?? null;
  if (d.updateRequired === true) return newer === null ? 'required' : `required (${newer})`;
  if (newer !== null) return `available (${newer})`;
  if (d.updateRequired === false) return 'up to date';
  return '—';
}

const FILTERS: ('all' | DeviceStatus)[] = ['all', 'online', 'offline', 'compromised', 'not registered', 'deregistered'];

/** Apps for the overview, when the apps API (issue 6) exists; undefined otherwise. */
async function appsOrNone(project: string): Promise<AppView[] | undefined> {
  try {
    return (await api.apps.list(project)).apps;
  } catch (e) {
    if (isNotFoundRoute(e)) return undefined;
    throw e;
  }
}

export function FleetPage(): ReactNode {
  const { project } = useSession();
  const devices = useLoad(() => api.devices.list(project), [project], 5000);
  const apps = useLoad(() => appsOrNone(project), [project], 10000);
  const [filter, setFilter] = useState<(typeof FILTERS)[number]>('all');
  const [search, setSearch] = useState('');
  const all = devices.data?.devices ?? [];
  const counts = new Map<string, number>();
  for (const d of all) counts.set(statusOf(d), (counts.get(statusOf(d)) ?? 0) + 1);
  const term = search.trim().toLowerCase();
  const shown = all.filter(
    (d) =>
      (filter === 'all' || statusOf(d) === filter) &&
      (term === '' || d.name.toLowerCase().includes(term) || Object.entries(d.tags).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(term)) || (d.agentVersion ?? '').includes(term)),
  );
  const appsOf = (name: string): AppView[] => (apps.data ?? []).filter((a) => a.device === name);
  return (
    <section aria-labelledby="fleet-h">
      <h1 id="fleet-h">Fleet</h1>
      <ul className="counts" aria-label="Device counts">
        <li>
          <span className="count">{all.length}</span> devices
        </li>
        <li>
          <span className="count">{counts.get('online') ?? 0}</span> online
        </li>
        <li>
          <span className="count">{counts.get('offline') ?? 0}</span> offline
        </li>
        <li>
          <span className="count">{counts.get('compromised') ?? 0}</span> compromised
        </li>
        <li>
          <span className="count">{counts.get('not registered') ?? 0}</span> not registered
        </li>
      </ul>
      <div className="filters">
        <label htmlFor="fleet-search">Search</label>
        <input id="fleet-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name, tag or version" />
        <label htmlFor="fleet-filter">Status</label>
        <select id="fleet-filter" value={filter} onChange={(e) => setFilter(e.target.value as (typeof FILTERS)[number])}>
          {FILTERS.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
        <Link to="/provision" className="button">
          Provision a device
        </Link>
      </div>
      <ErrorNote error={devices.error} />
      <p className="hint" aria-live="polite">
        {devices.data === undefined ? 'Loading devices…' : `Showing ${shown.length} of ${all.length}; refreshes every 5 seconds.`}
      </p>
      <table className="fleet">
        <caption className="sr-only">Devices of project {project}</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Status</th>
            <th scope="col">Agent</th>
            <th scope="col">Update</th>
            <th scope="col">Apps running</th>
            <th scope="col">Cameras connected</th>
            <th scope="col">Last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => {
            const mine = appsOf(d.name);
            const running = mine.filter((a) => a.stage === 'running');
            const cameras = running.flatMap((a) => a.cameras).filter((c) => c.state === undefined || c.state === 'connected');
            return (
              <tr key={d.id} data-device={d.name}>
                <th scope="row">
                  <Link to={`/devices/${encodeURIComponent(d.name)}`}>{d.name}</Link>
                </th>
                <td>
                  <StatusBadge device={d} />
                </td>
                <td>{d.agentVersion ?? '—'}</td>
                <td>{updateText(d)}</td>
                <td>{apps.data === undefined ? '—' : running.length}</td>
                <td>{apps.data === undefined ? '—' : cameras.length}</td>
                <td>{ago(d.lastSeenAt)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {devices.data !== undefined && all.length === 0 ? (
        <p>
          No devices yet. <Link to="/provision">Provision the first one</Link>.
        </p>
      ) : null}
    </section>
  );
}
