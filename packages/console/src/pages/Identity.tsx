import { useState, type FormEvent, type ReactNode } from 'react';
import { api, type Simulation } from '../api';
import { ConfirmButton, ErrorNote, Field, formError, useAction, useLoad } from '../ui';

const ROLES = ['ReadOnly', 'Auditor', 'Developer', 'Operator', 'Admin'];

/** A secret the API returns once (initial password, API key token). */
function ShownOnce({ label, value }: { label: string; value: string }): ReactNode {
  return (
    <div className="once" role="status">
      <p className="warning">{label} is shown only now; it cannot be shown again.</p>
      <code className="secret">{value}</code>
    </div>
  );
}

export function UsersPage(): ReactNode {
  const users = useLoad(() => api.users.list(), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('ReadOnly');
  const [project, setProject] = useState('*');
  const [created, setCreated] = useState<{ name: string; password: string } | undefined>(undefined);
  const action = useAction();
  const rowAction = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void action.run(async () => {
      const r = await api.users.create(name, [{ role, project }]);
      setCreated(r.initialPassword === undefined ? undefined : { name: r.user.name, password: r.initialPassword });
      setName('');
      users.reload();
    });
  };
  return (
    <section aria-labelledby="users-h">
      <h1 id="users-h">Users</h1>
      <ErrorNote error={users.error} />
      <ErrorNote error={rowAction.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">MFA</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(users.data?.users ?? []).map((u) => (
            <tr key={u.name}>
              <th scope="row">{u.name}</th>
              <td>{u.mfaEnrolled ? 'enrolled' : 'not enrolled'}</td>
              <td>{u.disabled ? 'disabled' : 'active'}</td>
              <td className="actions">
                <ConfirmButton label={u.disabled ? 'Enable' : 'Disable'} target={u.name} onConfirm={() => rowAction.run(() => api.users.setDisabled(u.name, !u.disabled).then(users.reload))} />
                <ConfirmButton label="Reset MFA of" target={u.name} onConfirm={() => rowAction.run(() => api.users.resetMfa(u.name).then(users.reload))} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Create a user</h2>
      <form onSubmit={submit}>
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <div className="field">
          <label htmlFor="user-role">Role</label>
          <select id="user-role" value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
        <Field label="For project" name="roles" value={project} onChange={setProject} hint="A project name, or * for all projects" error={action.error} />
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'roles'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Create user
        </button>
      </form>
      {created === undefined ? null : <ShownOnce label={`The initial password of ${created.name}`} value={created.password} />}
    </section>
  );
}

export function GroupsPage(): ReactNode {
  const groups = useLoad(() => api.groups.list(), []);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [member, setMember] = useState('');
  const [group, setGroup] = useState('');
  const action = useAction();
  const members = useAction();
  return (
    <section aria-labelledby="groups-h">
      <h1 id="groups-h">Groups</h1>
      <ErrorNote error={groups.error} />
      <ul>
        {(groups.data?.groups ?? []).map((g) => (
          <li key={g.name}>
            <strong>{g.name}</strong> {g.description}
          </li>
        ))}
      </ul>
      <h2>Create a group</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(() => api.groups.create(name, description).then(groups.reload));
        }}
      >
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <Field label="Description" name="description" value={description} onChange={setDescription} error={action.error} />
        <ErrorNote error={formError(action.error, ['name', 'description'])} />
        <button type="submit" className="primary">
          Create group
        </button>
      </form>
      <h2>Add a member</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void members.run(() => api.groups.addMember(group, member));
        }}
      >
        <Field label="Group" name="group" value={group} onChange={setGroup} required />
        <Field label="User" name="user" value={member} onChange={setMember} required error={members.error} />
        <ErrorNote error={formError(members.error, ['user'])} />
        <button type="submit">Add member</button>
      </form>
    </section>
  );
}

export function PoliciesPage(): ReactNode {
  const policies = useLoad(() => api.policies.list(), []);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [doc, setDoc] = useState('{\n  "version": "2026-01-01",\n  "statements": [\n    { "effect": "allow", "actions": ["device:Get"], "resources": ["srn:sightline:default:device/*"] }\n  ]\n}');
  const action = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void action.run(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(doc);
      } catch {
        throw new Error('The policy document is not valid JSON.');
      }
      await api.policies.create(name, description, parsed);
      policies.reload();
    });
  };
  return (
    <section aria-labelledby="pol-h">
      <h1 id="pol-h">Policies</h1>
      <ErrorNote error={policies.error} />
      {(policies.data?.policies ?? []).map((p) => (
        <details key={p.name}>
          <summary>
            {p.name} {p.description === '' ? '' : `— ${p.description}`}
          </summary>
          <pre>{JSON.stringify(p.document, null, 2)}</pre>
        </details>
      ))}
      <h2>Create a policy</h2>
      <form onSubmit={submit}>
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <Field label="Description" name="description" value={description} onChange={setDescription} error={action.error} />
        <Field label="Document (JSON)" name="document" value={doc} onChange={setDoc} multiline error={action.error} />
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'description', 'document'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Create policy
        </button>
      </form>
    </section>
  );
}

export function ApiKeysPage(): ReactNode {
  const keys = useLoad(() => api.apiKeys.list(), []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [token, setToken] = useState<string | undefined>(undefined);
  const action = useAction();
  const revoke = useAction();
  return (
    <section aria-labelledby="ak-h">
      <h1 id="ak-h">API keys</h1>
      <ErrorNote error={keys.error} />
      <ErrorNote error={revoke.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Owner</th>
            <th scope="col">Status</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.apiKeys ?? []).map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name}</th>
              <td>{k.owner}</td>
              <td>{k.status}</td>
              <td>{new Date(k.expiresAt).toLocaleDateString()}</td>
              <td>{k.lastUsedAt === null ? 'never' : new Date(k.lastUsedAt).toLocaleString()}</td>
              <td>{k.status === 'active' ? <ConfirmButton label="Revoke" target={k.name} danger onConfirm={() => revoke.run(() => api.apiKeys.revoke(k.id).then(keys.reload))} /> : null}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Create an API key for yourself</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const r = await api.apiKeys.create(name, Number(days));
            setToken(r.token);
            keys.reload();
          });
        }}
      >
        <Field label="Name" name="name" value={name} onChange={setName} required error={action.error} />
        <Field label="Expires in days (1-730)" name="expiresInDays" value={days} onChange={setDays} inputMode="numeric" error={action.error} />
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'expiresInDays'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Create API key
        </button>
      </form>
      {token === undefined ? null : <ShownOnce label="The API key token" value={token} />}
    </section>
  );
}

export function SimulatorPage(): ReactNode {
  const [user, setUser] = useState('');
  const [actionName, setActionName] = useState('device:Reboot');
  const [resource, setResource] = useState('srn:sightline:default:device/*');
  const [mfa, setMfa] = useState(true);
  const [result, setResult] = useState<Simulation | undefined>(undefined);
  const action = useAction();
  return (
    <section aria-labelledby="sim-h">
      <h1 id="sim-h">Policy simulator</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => setResult(await api.policies.simulate({ user, action: actionName, resource, mfaPresent: mfa })));
        }}
      >
        <Field label="User" name="user" value={user} onChange={setUser} required error={action.error} />
        <Field label="Action" name="action" value={actionName} onChange={setActionName} required error={action.error} />
        <Field label="Resource (SRN)" name="resource" value={resource} onChange={setResource} required error={action.error} />
        <div className="field">
          <input id="sim-mfa" type="checkbox" checked={mfa} onChange={(e) => setMfa(e.target.checked)} />
          <label htmlFor="sim-mfa">Signed in with MFA</label>
        </div>
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['user', 'action', 'resource'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          Simulate
        </button>
      </form>
      {result === undefined ? null : (
        <div role="status" className={result.decision === 'allow' ? 'ok' : 'error'}>
          <p>
            <strong>{result.decision === 'allow' ? 'Allowed' : 'Denied'}</strong> ({result.reason})
          </p>
          {result.matched === undefined ? null : (
            <p>
              Deciding statement: policy {result.matched.policy}, statement {result.matched.statementIndex}
              {result.matched.sid === undefined ? '' : ` (${result.matched.sid})`}
            </p>
          )}
        </div>
      )}
    </section>
  );
}
