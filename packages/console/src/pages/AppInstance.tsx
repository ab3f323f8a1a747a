import { useState, type ReactNode } from 'react';
import { api, type AppView } from '../api';
import { BASE, Link, navigate } from '../router';
import { useSession } from '../session';
import { ago, ConfirmButton, ErrorNote, useAction, useLoad } from '../ui';
import { LogTail } from './LogTail';
import { OutputPreview } from './OutputPreview';

/** `faces 12, frames 340`: a node's counters as the agent last reported them. */
function metricsText(metrics: Readonly<Record<string, number>> | undefined): string {
  const entries = Object.entries(metrics ?? {});
  return entries.length === 0 ? '—' : entries.map(([k, v]) => `${k} ${v.toLocaleString('en')}`).join(', ');
}

function Cameras({ app, onChanged }: { app: AppView; onChanged: () => void }): ReactNode {
  const { project } = useSession();
  const action = useAction();
  const toggle = (camera: string, paused: boolean) =>
    action.run(async () => {
      await api.apps.setPaused(project, app.instanceId, camera, paused);
      onChanged();
    });
  return (
    <section aria-labelledby="app-cameras-h">
      <h2 id="app-cameras-h">Cameras</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Camera</th>
            <th scope="col">Input</th>
            <th scope="col">State</th>
            <th scope="col">Frames per second</th>
            <th scope="col">Last error</th>
            <th scope="col">Input paused</th>
          </tr>
        </thead>
        <tbody>
          {app.cameras.map((c) => (
            <tr key={`${c.node ?? ''}/${c.camera}`}>
              <td>{c.camera}</td>
              <td>{c.node ?? '—'}</td>
              <td>{c.state ?? 'unknown'}</td>
              <td>{c.fps === undefined ? '—' : c.fps.toFixed(1)}</td>
              <td>{c.lastError ?? ''}</td>
              <td>
                {c.paused === true ? 'yes ' : 'no '}
                {app.stage === 'stopped' ? null : (
                  <ConfirmButton
                    label={c.paused === true ? 'Resume camera' : 'Pause camera'}
                    target={c.camera}
                    detail={c.paused === true ? 'Its frames go to the app again.' : 'The app gets no frames from it until it is resumed.'}
                    onConfirm={() => toggle(c.camera, c.paused !== true)}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorNote error={action.error} />
    </section>
  );
}

/**
 * One app instance: its stage and history, its cameras (state, fps, pause),
 * its nodes (state, restarts, last exit, metrics), parameters, output preview
 * and its own log group (`app-<instance>`, encrypted under its own key: the
 * app's logger lines and its stdout/stderr, shipped by the agent).
 */
export function AppInstancePage({ instance }: { instance: string }): ReactNode {
  const { project } = useSession();
  const loaded = useLoad(() => api.apps.get(project, instance), [project, instance], 3000);
  const remove = useAction();
  const [preview, setPreview] = useState<string | undefined>(undefined);
  const app = loaded.data?.app;
  return (
    <section aria-labelledby="app-h">
      <p>
        {app === undefined ? (
          <Link to="/">← Fleet</Link>
        ) : (
          <Link to={`/devices/${encodeURIComponent(app.device)}`}>← Device {app.device}</Link>
        )}
      </p>
      <h1 id="app-h">App {app === undefined ? instance : `${app.app} on ${app.device}`}</h1>
      <ErrorNote error={loaded.error} />
      {app === undefined ? (
        loaded.error === undefined ? (
          <p role="status">Loading…</p>
        ) : null
      ) : (
        <>
          <dl className="facts">
            <dt>Instance</dt>
            <dd>{app.instanceId}</dd>
            <dt>Stage</dt>
            <dd>
              <span className={`badge badge-stage-${app.stage}`} data-stage={app.stage}>
                {app.stage}
              </span>
              {app.code === undefined ? null : ` ${app.code}: ${app.message ?? ''}`}
            </dd>
            <dt>Revision</dt>
            <dd>{app.revision}</dd>
            <dt>Updated</dt>
            <dd>{ago(app.updatedAt)}</dd>
          </dl>
          <Cameras app={app} onChanged={loaded.reload} />
          <section aria-labelledby="app-nodes-h">
            <h2 id="app-nodes-h">Nodes</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Package</th>
                  <th scope="col">State</th>
                  <th scope="col">Restarts</th>
                  <th scope="col">Last exit</th>
                  <th scope="col">Metrics</th>
                </tr>
              </thead>
              <tbody>
                {app.nodes.map((n) => (
                  <tr key={n.node} data-node={n.node}>
                    <td>{n.node}</td>
                    <td>{n.type ?? '—'}</td>
                    <td>{n.package === undefined ? '—' : `${n.package} ${n.version ?? ''}`}</td>
                    <td>{n.state ?? 'unknown'}</td>
                    <td>{n.restarts ?? 0}</td>
                    <td>{n.lastExit ?? ''}</td>
                    <td className="metrics">{metricsText(n.metrics)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section aria-labelledby="app-params-h">
            <h2 id="app-params-h">Parameters</h2>
            <pre>{JSON.stringify(app.parameters, null, 2)}</pre>
          </section>
          <section aria-labelledby="app-history-h">
            <h2 id="app-history-h">History</h2>
            <ol>
              {app.history.map((h, i) => (
                <li key={`${h.at}-${i}`}>
                  <time dateTime={h.at}>{h.at.replace('T', ' ').slice(0, 19)}</time> {h.stage}
                  {h.message === undefined ? '' : `: ${h.message}`}
                </li>
              ))}
            </ol>
          </section>
          {app.stage === 'running' && (app.outputs ?? []).length > 0 ? (
            <section aria-labelledby="app-outputs-h">
              <h2 id="app-outputs-h">Outputs</h2>
              <div className="actions">
                {(app.outputs ?? []).map((o) => (
                  <button key={o} type="button" aria-pressed={preview === o} onClick={() => setPreview(o)}>
                    Preview output {o}
                  </button>
                ))}
              </div>
              {preview === undefined ? null : (
                <OutputPreview
                  key={preview}
                  project={project}
                  device={app.device}
                  instance={app.instanceId}
                  app={app.app}
                  output={preview}
                  onStop={() => setPreview(undefined)}
                />
              )}
            </section>
          ) : null}
          {app.stage === 'stopped' ? null : (
            <section aria-labelledby="app-actions-h">
              <h2 id="app-actions-h">Actions</h2>
              <ConfirmButton
                label="Remove app"
                target={`${app.app} from ${app.device}`}
                danger
                detail="Its processes stop on the device, its cameras are unbound and its storage there is discarded."
                onConfirm={() =>
                  remove.run(async () => {
                    await api.apps.remove(project, app.instanceId);
                    navigate(`${BASE}/devices/${encodeURIComponent(app.device)}`);
                  })
                }
              />
              <ErrorNote error={remove.error} />
            </section>
          )}
          <LogTail project={project} group={`app-${app.instanceId}`} label={`app ${app.app}`} heading="App log" />
        </>
      )}
    </section>
  );
}
