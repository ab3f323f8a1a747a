import { useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api';
import { useSession } from '../session';
import { ErrorNote, Field, formError, useAction, useLoad } from '../ui';

export function CamerasPage(): ReactNode {
  const { project } = useSession();
  const cameras = useLoad(() => api.cameras.list(project), [project]);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [done, setDone] = useState('');
  const action = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    setDone('');
    void action.run(async () => {
      const c = await api.cameras.create(project, { name, url, description, ...(username === '' && password === '' ? {} : { username, password }) });
      setPassword('');
      setDone(`Camera ${c.name} created${c.secret === null ? '' : `; its credentials are in the secrets store as ${c.secret}`}.`);
      cameras.reload();
    });
  };
  const plain = /^rtsp:\/\//i.test(url.trim());
  return (
    <section aria-labelledby="cam-h">
      <h1 id="cam-h">Cameras</h1>
      <ErrorNote error={cameras.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">URL</th>
            <th scope="col">State</th>
            <th scope="col">Credentials</th>
            <th scope="col">Warnings</th>
          </tr>
        </thead>
        <tbody>
          {(cameras.data?.cameras ?? []).map((c) => (
            <tr key={c.id}>
              <th scope="row">{c.name}</th>
              <td>
                <code>{c.url}</code>
              </td>
              <td>{c.state}</td>
              <td>{c.secret ?? 'none'}</td>
              <td>
                {c.warnings.map((w) => (
                  <p key={w.code} className="warning">
                    <strong className="code">{w.code}</strong> {w.message}
                  </p>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Add a camera</h2>
      <form onSubmit={submit}>
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <Field label="Stream URL" name="url" value={url} onChange={setUrl} required error={action.error} hint="rtsps:// preferred. No user name or password in the URL: use the fields below." />
        {plain ? (
          <p className="warning" role="status">
            Plain rtsp:// is not encrypted: the video and the camera credentials cross the network in clear. Prefer rtsps:// where the camera supports it.
          </p>
        ) : null}
        <Field label="Description" name="description" value={description} onChange={setDescription} error={action.error} />
        <Field label="Camera user name" name="username" value={username} onChange={setUsername} error={action.error} />
        <Field label="Camera password" name="password" type="password" value={password} onChange={setPassword} autoComplete="new-password" error={action.error} hint="Stored in the secrets store, envelope-encrypted; never shown again." />
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'url', 'description', 'username', 'password'])} />
          {done === '' ? null : <p role="status">{done}</p>}
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Create camera
        </button>
      </form>
    </section>
  );
}
