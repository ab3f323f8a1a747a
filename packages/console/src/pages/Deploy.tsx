import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { api, ApiError, type AppManifest, type AppView, type ManifestNode, type ParameterSpec } from '../api';
import { Link, useLocation } from '../router';
import { useSession } from '../session';
import { bytes, ErrorNote, fieldError, isNotFoundRoute, Unavailable, useAction, useLoad } from '../ui';

const FINAL = new Set(['running', 'failed', 'rolled-back', 'stopped']);

function parseManifest(text: string): { manifest?: AppManifest; problem?: string } {
  if (text.trim() === '') return {};
  try {
    const m = JSON.parse(text) as Partial<AppManifest>;
    if (typeof m.name !== 'string' || !Array.isArray(m.nodes) || !Array.isArray(m.edges)) return { problem: 'The manifest needs "name", "nodes" and "edges".' };
    return { manifest: m as AppManifest };
  } catch (e) {
    return { problem: `The manifest is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** One input per overridable parameter, typed from the manifest (number, string with choices, boolean). */
function ParameterInput({ node, spec, value, onChange, error }: { node: ManifestNode; spec: ParameterSpec; value: string | boolean; onChange: (v: string | boolean) => void; error: unknown }): ReactNode {
  const id = `param-${node.name}`;
  const err = fieldError(error, `overrides.parameters.${node.name}`);
  const hint = `${spec.type}${spec.type === 'number' && spec.min !== undefined ? `, at least ${spec.min}` : ''}${spec.type === 'number' && spec.max !== undefined ? `, at most ${spec.max}` : ''}; default ${String(spec.default)}${spec.description === undefined ? '' : `. ${spec.description}`}`;
  const describedBy = `${id}-hint${err === undefined ? '' : ` ${id}-err`}`;
  let input: ReactNode;
  if (spec.type === 'boolean') {
    input = <input id={id} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} aria-describedby={describedBy} />;
  } else if (spec.type === 'string' && spec.choices !== undefined) {
    input = (
      <select id={id} value={String(value)} onChange={(e) => onChange(e.target.value)} aria-describedby={describedBy}>
        {spec.choices.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        id={id}
        type={spec.type === 'number' ? 'number' : 'text'}
        step="any"
        {...(spec.type === 'number' && spec.min !== undefined ? { min: spec.min } : {})}
        {...(spec.type === 'number' && spec.max !== undefined ? { max: spec.max } : {})}
        value={String(value)}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={err !== undefined}
        aria-describedby={describedBy}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{node.name}</label>
      {input}
      <p className="hint" id={`${id}-hint`}>
        {hint}
      </p>
      {err === undefined ? null : <ErrorNote error={err} id={`${id}-err`} />}
    </div>
  );
}

/** Live progress of one instance: long-polls until it is running or failed (with the reason). */
function Progress({ project, first }: { project: string; first: AppView }): ReactNode {
  const [app, setApp] = useState(first);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    const aborter = new AbortController();
    const loop = async (): Promise<void> => {
      let since = first.updatedAt;
      let stage = first.stage;
      while (!aborter.signal.aborted && !FINAL.has(stage)) {
        try {
          const r = await api.apps.watch(project, first.instanceId, since, aborter.signal);
          const next = 'instanceId' in r ? r : r.app;
          since = next.updatedAt;
          stage = next.stage;
          setApp(next);
          setError(undefined);
        } catch (e) {
          if (aborter.signal.aborted) return;
          setError(e);
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    };
    void loop();
    return () => aborter.abort();
  }, [project, first]);
  const pct = app.bytesTotal !== undefined && app.bytesTotal > 0 ? Math.round(((app.bytesDone ?? 0) / app.bytesTotal) * 100) : undefined;
  return (
    <section aria-labelledby="progress-h" className="progress">
      <h2 id="progress-h">
        Deploying {app.app} to {app.device}
      </h2>
      <p aria-live="polite" role="status" data-stage={app.stage}>
        Stage: <strong className={`badge badge-stage-${app.stage}`}>{app.stage}</strong>
        {app.stage === 'downloading' && pct !== undefined ? ` ${pct}% (${bytes(app.bytesDone ?? 0)} of ${bytes(app.bytesTotal ?? 0)})` : ''}
      </p>
      {pct !== undefined && app.stage === 'downloading' ? <progress max={100} value={pct} aria-label="Download progress" /> : null}
      {app.stage === 'failed' || app.stage === 'rolled-back' ? (
        <p className="error" role="alert">
          <strong className="code">{app.code ?? 'FAILED'}</strong> {app.message ?? 'The deployment failed.'}
        </p>
      ) : null}
      <ol className="history">
        {app.history.map((h, i) => (
          <li key={`${h.stage}-${i}`}>
            <time dateTime={h.at}>{new Date(h.at).toLocaleTimeString()}</time> {h.stage}
            {h.message === undefined ? '' : ` — ${h.message}`}
          </li>
        ))}
      </ol>
      <ErrorNote error={error} />
    </section>
  );
}

export function DeployPage(): ReactNode {
  const { project } = useSession();
  const { query } = useLocation();
  const devices = useLoad(() => api.devices.list(project), [project]);
  const cameras = useLoad(() => api.cameras.list(project), [project]);
  const apps = useLoad(() => api.apps.list(project), [project], 10000);
  const [device, setDevice] = useState(query.get('device') ?? '');
  const [text, setText] = useState('');
  const [cameraFor, setCameraFor] = useState<Record<string, string>>({});
  const [params, setParams] = useState<Record<string, string | boolean>>({});
  const [deployed, setDeployed] = useState<AppView | undefined>(undefined);
  const action = useAction();
  const { manifest, problem } = parseManifest(text);
  const cameraNodes = manifest?.nodes.filter((n) => n.type === 'camera') ?? [];
  const paramNodes = manifest?.nodes.filter((n) => n.type === 'parameter' && n.parameter?.overridable === true) ?? [];

  if (isNotFoundRoute(apps.error)) {
    return (
      <section>
        <h1>Deploy an app</h1>
        <Unavailable what="App deployment (issue 6)" />
      </section>
    );
  }

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (manifest === undefined) return;
    const parameters: Record<string, number | string | boolean> = {};
    for (const n of paramNodes) {
      const v = params[n.name];
      if (v === undefined || n.parameter === undefined) continue;
      parameters[n.name] = n.parameter.type === 'number' && typeof v === 'string' ? Number(v) : v;
    }
    void action.run(async () => {
      const r = await api.apps.deploy(project, { manifest, device, overrides: { cameras: cameraFor, parameters } });
      setDeployed(r.app);
      apps.reload();
    });
  };
  const err = action.error;
  const otherError = err instanceof ApiError && err.field !== undefined && (err.field.startsWith('overrides.') || err.field === 'device') ? undefined : err;

  return (
    <section aria-labelledby="deploy-h">
      <h1 id="deploy-h">Deploy an app</h1>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor="deploy-device">Device</label>
          <select id="deploy-device" value={device} onChange={(e) => setDevice(e.target.value)} required>
            <option value="">Choose a device</option>
            {(devices.data?.devices ?? []).map((d) => (
              <option key={d.id} value={d.name}>
                {d.name} {d.online ? '(online)' : '(offline)'}
              </option>
            ))}
          </select>
          {fieldError(err, 'device') === undefined ? null : <ErrorNote error={fieldError(err, 'device')} />}
        </div>
        <div className="field">
          <label htmlFor="deploy-manifest">App manifest (JSON)</label>
          <textarea id="deploy-manifest" rows={10} value={text} onChange={(e) => setText(e.target.value)} aria-describedby="manifest-hint" spellCheck={false} />
          <p className="hint" id="manifest-hint">
            Paste the app's manifest: nodes (camera, code, model, output, parameter) and edges. Its cameras and overridable parameters appear below.
          </p>
          {problem === undefined ? null : (
            <p className="error" role="alert">
              {problem}
            </p>
          )}
        </div>
        {cameraNodes.length > 0 ? (
          <fieldset>
            <legend>Cameras</legend>
            {cameraNodes.map((n) => (
              <div className="field" key={n.name}>
                <label htmlFor={`cam-${n.name}`}>Camera for node {n.name}</label>
                <select id={`cam-${n.name}`} value={cameraFor[n.name] ?? ''} onChange={(e) => setCameraFor({ ...cameraFor, [n.name]: e.target.value })} required>
                  <option value="">Choose a camera</option>
                  {(cameras.data?.cameras ?? []).map((c) => (
                    <option key={c.id} value={c.name}>
                      {c.name}
                      {c.scheme === 'rtsp' ? ' (plain RTSP: not encrypted)' : ''}
                    </option>
                  ))}
                </select>
                {fieldError(err, `overrides.cameras.${n.name}`) === undefined ? null : <ErrorNote error={fieldError(err, `overrides.cameras.${n.name}`)} />}
              </div>
            ))}
          </fieldset>
        ) : null}
        {paramNodes.length > 0 ? (
          <fieldset>
            <legend>Parameters</legend>
            {paramNodes.map((n) =>
              n.parameter === undefined ? null : (
                <ParameterInput
                  key={n.name}
                  node={n}
                  spec={n.parameter}
                  value={params[n.name] ?? (typeof n.parameter.default === 'boolean' ? n.parameter.default : String(n.parameter.default))}
                  onChange={(v) => setParams({ ...params, [n.name]: v })}
                  error={err}
                />
              ),
            )}
          </fieldset>
        ) : null}
        <div aria-live="assertive">
          <ErrorNote error={otherError} />
        </div>
        <button type="submit" className="primary" disabled={action.busy || manifest === undefined || device === ''}>
          Deploy
        </button>
      </form>
      {deployed === undefined ? null : <Progress project={project} first={deployed} />}
      <h2>Deployed apps</h2>
      <ErrorNote error={apps.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">Device</th>
            <th scope="col">Stage</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {(apps.data?.apps ?? []).map((a) => (
            <tr key={a.instanceId}>
              <th scope="row">
                <Link to={`/apps/${encodeURIComponent(a.instanceId)}`}>{a.app}</Link>
              </th>
              <td>{a.device}</td>
              <td>{a.stage}</td>
              <td>{a.code === undefined ? '' : `${a.code}: ${a.message ?? ''}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
