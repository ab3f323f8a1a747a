import { useState, type FormEvent, type ReactNode } from 'react';
import { api, type Key } from '../api';
import { useSession } from '../session';
import { ConfirmButton, ErrorNote, Field, formError, useAction, useLoad } from '../ui';

function KeyActions({ project, k, done }: { project: string; k: Key; done: () => void }): ReactNode {
  const action = useAction();
  const [days, setDays] = useState('30');
  if (k.managedBy !== 'customer' || k.state === 'destroyed') return <td>—</td>;
  const change = (op: 'rotate' | 'enable' | 'disable' | 'cancel-deletion') => () => action.run(() => api.keys.change(project, k.name, op).then(done));
  return (
    <td>
      <div className="actions">
        {k.state === 'enabled' ? <ConfirmButton label="Rotate" target={k.name} onConfirm={change('rotate')} /> : null}
        {k.state === 'enabled' ? <ConfirmButton label="Disable" target={k.name} detail="Everything under it becomes unreadable until it is enabled." onConfirm={change('disable')} /> : null}
        {k.state === 'disabled' ? <ConfirmButton label="Enable" target={k.name} onConfirm={change('enable')} /> : null}
        {k.state === 'pending-deletion' ? <ConfirmButton label="Cancel deletion of" target={k.name} onConfirm={change('cancel-deletion')} /> : null}
        {k.state === 'enabled' || k.state === 'disabled' ? (
          <>
            <label htmlFor={`days-${k.name}`}>Waiting period (7-30 days)</label>
            <input id={`days-${k.name}`} type="number" min={7} max={30} value={days} onChange={(e) => setDays(e.target.value)} />
            <ConfirmButton
              label="Schedule deletion of"
              target={k.name}
              danger
              detail={`After ${days} days the key is destroyed and the data under it is gone for good.`}
              onConfirm={() => action.run(() => api.keys.scheduleDeletion(project, k.name, Number(days)).then(done))}
            />
          </>
        ) : null}
      </div>
      <ErrorNote error={action.error} />
    </td>
  );
}

export function KeysPage(): ReactNode {
  const { project } = useSession();
  const keys = useLoad(() => api.keys.list(project), [project]);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const action = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void action.run(async () => {
      await api.keys.create(project, name, description);
      setName('');
      setDescription('');
      keys.reload();
    });
  };
  return (
    <section aria-labelledby="keys-h">
      <h1 id="keys-h">Keys (KMS)</h1>
      <ErrorNote error={keys.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Managed by</th>
            <th scope="col">State</th>
            <th scope="col">Version</th>
            <th scope="col">Deletion</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.keys ?? []).map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name}</th>
              <td>{k.managedBy}</td>
              <td>{k.state}</td>
              <td>{k.currentVersion}</td>
              <td>{k.deletionDate === null ? '—' : `destroyed on ${new Date(k.deletionDate).toLocaleString()}`}</td>
              <KeyActions project={project} k={k} done={keys.reload} />
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Create a customer-managed key</h2>
      <form onSubmit={submit}>
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <Field label="Description" name="description" value={description} onChange={setDescription} error={action.error} />
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'description'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Create key
        </button>
      </form>
    </section>
  );
}
