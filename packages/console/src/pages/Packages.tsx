import { useState, type ReactNode } from 'react';
import { api } from '../api';
import { useSession } from '../session';
import { ErrorNote, isNotFoundRoute, Unavailable, useLoad } from '../ui';

function Versions({ project, name }: { project: string; name: string }): ReactNode {
  const pkg = useLoad(() => api.packages.get(project, name), [project, name]);
  return (
    <>
      <ErrorNote error={pkg.error} />
      <table>
        <caption>Versions of {name}</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Signed by</th>
            <th scope="col">Key id</th>
            <th scope="col">Size</th>
            <th scope="col">Pushed</th>
          </tr>
        </thead>
        <tbody>
          {(pkg.data?.versions ?? []).map((v) => (
            <tr key={v.version}>
              <th scope="row">{v.version}</th>
              <td>{v.signer ?? 'unregistered key'}</td>
              <td>
                <code>{v.keyId}</code>
              </td>
              <td>{v.bytes} bytes</td>
              <td>
                {new Date(v.createdAt).toLocaleString()} by {v.createdBy}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function PackagesPage(): ReactNode {
  const { project } = useSession();
  const list = useLoad(() => api.packages.list(project), [project]);
  const [open, setOpen] = useState<string | undefined>(undefined);
  if (isNotFoundRoute(list.error)) {
    return (
      <section>
        <h1>Packages</h1>
        <Unavailable what="The packages API (issue 6)" />
      </section>
    );
  }
  return (
    <section aria-labelledby="pkg-h">
      <h1 id="pkg-h">Packages</h1>
      <ErrorNote error={list.error} />
      <ul className="plain">
        {(list.data?.packages ?? []).map((p) => (
          <li key={p.name}>
            <button type="button" aria-expanded={open === p.name} onClick={() => setOpen(open === p.name ? undefined : p.name)}>
              {p.name}
            </button>{' '}
            {p.kind}, latest {p.latestVersion}, {p.versions} version(s)
            {open === p.name ? <Versions project={project} name={p.name} /> : null}
          </li>
        ))}
      </ul>
      {list.data?.packages.length === 0 ? <p>No packages yet: push one with "sightline package push".</p> : null}
    </section>
  );
}
