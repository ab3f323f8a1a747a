import { useEffect, useState, type ReactNode } from 'react';
import { api, type AppView, type Device, type Job } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { ago, bytes, ConfirmButton, duration, ErrorNote, isNotFoundRoute, Sparkline, useAction, useLoad } from '../ui';
import { StatusBadge } from './Fleet';
import { LogTail } from './LogTail';
import { OutputPreview } from './OutputPreview';

interface Sample {
  at: string;
  cpu: number;
  memory: number;
  disk: number;
}

const HISTORY = 60;

/** The API keeps only the last heartbeat, so the console keeps a short history from polling. */
function useHeartbeatHistory(device: Device | undefined): Sample[] {
  const [samples, setSamples] = useState<Sample[]>([]);
  const hb = device?.status;
  // A new heartbeat: its time, or its uptime when the server's clock stands still (tests).
  const at = device?.lastSeenAt === null || device?.lastSeenAt === undefined || hb === null || hb === undefined ? null : `${device.lastSeenAt}|${hb.uptimeSeconds}`;
  useEffect(() => {
    if (hb === null || hb === undefined || at === null) return;
    setSamples((prev) => {
      if (prev[prev.length - 1]?.at === at) return prev;
      const sample: Sample = {
        at,
        cpu: (hb.cpu.load1 / Math.max(1, hb.cpu.cores)) * 100,
        memory: hb.memory.totalBytes === 0 ? 0 : ((hb.memory.totalBytes - hb.memory.freeBytes) / hb.memory.totalBytes) * 100,
        disk: hb.disk.totalBytes === 0 ? 0 : ((hb.disk.totalBytes - hb.disk.freeBytes) / hb.disk.totalBytes) * 100,
      };
      return [...prev, sample].slice(-HISTORY);
    });
  }, [hb, at]);
  return samples;
}

/** Per-series history of values seen while polling (per-camera fps, app errors), keyed by series name. */
function useSeries(current: Readonly<Record<string, number>>, stamp: string | undefined): Record<string, number[]> {
  const [series, setSeries] = useState<Record<string, number[]>>({});
  const key = JSON.stringify(current);
  useEffect(() => {
    if (stamp === undefined) return;
    setSeries((prev) => {
      const next: Record<string, number[]> = {};
      for (const [name, value] of Object.entries(JSON.parse(key) as Record<string, number>)) next[name] = [...(prev[name] ?? []), value].slice(-HISTORY);
      return next;
    });
  }, [key, stamp]);
  return series;
}


function JobRow({ job }: { job: Job }): ReactNode {
  const pct = job.bytesTotal !== undefined && job.bytesTotal > 0 && job.bytesDone !== undefined ? Math.round((job.bytesDone / job.bytesTotal) * 100) : undefined;
  return (
    <tr>
      <td>{job.kind}</td>
      <td>
        <span className={`badge badge-job-${job.status}`}>{job.status}</span>
        {job.stage === undefined ? null : <span className="stage"> · {job.stage}</span>}
        {pct === undefined ? null : (
          <progress max={100} value={pct} aria-label={`${job.kind} progress`}>
            {pct}%
          </progress>
        )}
      </td>
      <td>{job.message ?? ''}</td>
      <td>{ago(job.updatedAt)}</td>
    </tr>
  );
}

async function appsOrNone(project: string, device: string): Promise<AppView[] | undefined> {
  try {
    return (await api.apps.list(project, device)).apps;
  } catch (e) {
    if (isNotFoundRoute(e)) return undefined;
    throw e;
  }
}

export function DevicePage({ name }: { name: string }): ReactNode {
  const { project } = useSession();
  const device = useLoad(() => api.devices.get(project, name), [project, name], 3000);
  const jobs = useLoad(() => api.devices.jobs(project, name), [project, name], 2000);
  const apps = useLoad(() => appsOrNone(project, name), [project, name], 5000);
  const history = useHeartbeatHistory(device.data);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [version, setVersion] = useState('');
  const [preview, setPreview] = useState<{ instance: string; app: string; output: string } | undefined>(undefined);
  const d = device.data;
  const hb = d?.status ?? undefined;
  const act = (what: string, fn: () => Promise<unknown>) => () =>
    action.run(async () => {
      setNotice('');
      await fn();
      setNotice(`${what} requested for ${name}.`);
      jobs.reload();
      device.reload();
    });
  const appList = apps.data ?? [];
  const current: Record<string, number> = { 'App errors (restarts)': appList.flatMap((a) => a.nodes).reduce((n, x) => n + (x.restarts ?? 0), 0) };
  for (const c of appList.flatMap((a) => a.cameras)) if (c.fps !== undefined) current[`${c.camera} fps`] = c.fps;
  const series = useSeries(current, apps.data === undefined ? undefined : JSON.stringify(apps.data.map((a) => a.updatedAt)) + String(history.length));
  return (
    <section aria-labelledby="device-h">
      <p>
        <Link to="/">← Fleet</Link>
      </p>
      <h1 id="device-h">Device {name}</h1>
      <ErrorNote error={device.error} />
      {d === undefined ? (
        <p role="status">Loading…</p>
      ) : (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge device={d} />
            </dd>
            <dt>Agent version</dt>
            <dd>{d.agentVersion ?? '—'}</dd>
            <dt>Last heartbeat</dt>
            <dd>{ago(d.lastSeenAt)}</dd>
            <dt>Integrity</dt>
            <dd>{d.integrity}</dd>
            <dt>Uptime</dt>
            <dd>{hb === undefined ? '—' : duration(hb.uptimeSeconds)}</dd>
            <dt>Root key</dt>
            <dd>{hb?.rootKeyProtection ?? '—'}</dd>
            <dt>Memory</dt>
            <dd>{hb === undefined ? '—' : `${bytes(hb.memory.totalBytes - hb.memory.freeBytes)} of ${bytes(hb.memory.totalBytes)}`}</dd>
            <dt>Disk</dt>
            <dd>{hb === undefined ? '—' : `${bytes(hb.disk.totalBytes - hb.disk.freeBytes)} of ${bytes(hb.disk.totalBytes)}`}</dd>
          </dl>
          <section aria-labelledby="metrics-h">
            <h2 id="metrics-h">Metrics</h2>
            <div className="charts">
              <Sparkline label="CPU load per core" unit="%" max={100} values={history.map((s) => s.cpu)} />
              <Sparkline label="Memory" unit="%" max={100} values={history.map((s) => s.memory)} />
              <Sparkline label="Disk" unit="%" max={100} values={history.map((s) => s.disk)} />
              {Object.entries(series).map(([label, values]) => (
                <Sparkline key={label} label={label} unit={label.endsWith('fps') ? 'fps' : ''} values={values} />
              ))}
            </div>
          </section>
        </>
      )}
      <section aria-labelledby="actions-h">
        <h2 id="actions-h">Actions</h2>
        <div className="actions">
          <ConfirmButton label="Reboot" target={name} onConfirm={act('Reboot', () => api.devices.job(project, name, 'reboot'))} />
          <ConfirmButton
            label="Full reset"
            target={name}
            danger
            detail="Crypto-erase: every app and all data on the device are destroyed and its certificates revoked."
            onConfirm={act('Full reset', () => api.devices.job(project, name, 'reset'))}
          />
          <ConfirmButton
            label="Deregister"
            target={name}
            danger
            detail="Its certificates are revoked at once; the device then needs a full reset."
            onConfirm={act('Deregistration', () => api.devices.deregister(project, name))}
          />
        </div>
        <div className="actions">
          <label htmlFor="update-version">Update to version (empty: the newest release)</label>
          <input id="update-version" value={version} onChange={(e) => setVersion(e.target.value)} placeholder="newest" />
          <ConfirmButton label="Update" target={name} onConfirm={act('Update', () => api.devices.update(project, name, version))} />
        </div>
        <div aria-live="assertive">
          {isNotFoundRoute(action.error) ? <p className="error" role="alert">This control plane has no such action yet (its API answered 404).</p> : <ErrorNote error={action.error} />}
          {notice === '' ? null : <p role="status">{notice}</p>}
        </div>
      </section>
      <section aria-labelledby="jobs-h">
        <h2 id="jobs-h">Jobs</h2>
        <ErrorNote error={jobs.error} />
        <table>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Progress</th>
              <th scope="col">Message</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody aria-live="polite">
            {(jobs.data?.jobs ?? []).map((j) => (
              <JobRow key={j.id} job={j} />
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="apps-h">
        <h2 id="apps-h">Apps and cameras</h2>
        {apps.data === undefined && apps.error === undefined ? <p className="hint">The apps API is not available on this control plane yet.</p> : null}
        <ErrorNote error={apps.error} />
        <ul>
          {appList.map((a) => (
            <li key={a.instanceId}>
              <Link to={`/apps/${encodeURIComponent(a.instanceId)}`}>
                <strong>{a.app}</strong>
              </Link>{' '}
              — <span className={`badge badge-stage-${a.stage}`}>{a.stage}</span>
              {a.code === undefined ? null : ` ${a.code}: ${a.message ?? ''}`}
              <ul>
                {a.cameras.map((c) => (
                  <li key={c.camera}>
                    camera {c.camera}: {c.state ?? 'unknown'}
                    {c.fps === undefined ? '' : `, ${c.fps.toFixed(1)} fps`}
                    {c.lastError === undefined ? '' : ` (${c.lastError})`}
                  </li>
                ))}
              </ul>
              {a.stage === 'running' && (a.outputs ?? []).length > 0 ? (
                <div className="actions">
                  {(a.outputs ?? []).map((o) => (
                    <button
                      key={o}
                      type="button"
                      aria-pressed={preview?.instance === a.instanceId && preview.output === o}
                      onClick={() => setPreview({ instance: a.instanceId, app: a.app, output: o })}
                    >
                      Preview output {o}
                    </button>
                  ))}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
        {preview === undefined ? null : (
          <OutputPreview
            key={`${preview.instance}/${preview.output}`}
            project={project}
            device={name}
            instance={preview.instance}
            app={preview.app}
            output={preview.output}
            onStop={() => setPreview(undefined)}
          />
        )}
        <Link to={`/deploy?device=${encodeURIComponent(name)}`}>Deploy an app to {name}</Link>
      </section>
      <LogTail project={project} group={`device-${name}`} label={name} heading="Log tail" />
    </section>
  );
}
