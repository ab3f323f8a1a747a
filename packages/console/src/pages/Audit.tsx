import { useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api';
import { ErrorNote, useLoad } from '../ui';

interface Filters {
  principal: string;
  action: string;
  resource: string;
  outcome: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { principal: '', action: '', resource: '', outcome: '', from: '', to: '' };

function iso(local: string): string | undefined {
  return local === '' ? undefined : new Date(local).toISOString();
}

/** The live verification of the Merkle log: recomputed by the server from every event, every 30 s. */
function ChainStatus(): ReactNode {
  const verify = useLoad(() => api.audit.verify(), [], 30000);
  return (
    <div className="chain" aria-live="polite">
      <h2>Chain verification</h2>
      {verify.error !== undefined ? (
        <>
          <p className="error">The audit chain did NOT verify.</p>
          <ErrorNote error={verify.error} />
        </>
      ) : verify.data === undefined ? (
        <p role="status">Verifying…</p>
      ) : (
        <p className="ok" role="status">
          Verified: {verify.data.events} events, {verify.data.checkpoints} signed checkpoints (signed size {verify.data.signedSize}). Checked again every 30 seconds.
        </p>
      )}
    </div>
  );
}

export function AuditPage(): ReactNode {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [after, setAfter] = useState<number | undefined>(undefined);
  const events = useLoad(
    () =>
      api.audit.events({
        principal: filters.principal,
        action: filters.action,
        resource: filters.resource,
        outcome: filters.outcome,
        from: iso(filters.from),
        to: iso(filters.to),
        after,
        limit: 100,
      }),
    [filters, after],
  );
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    setAfter(undefined);
    setFilters(draft);
  };
  const input = (key: keyof Filters, label: string, type = 'text'): ReactNode => (
    <div className="field inline">
      <label htmlFor={`audit-${key}`}>{label}</label>
      <input id={`audit-${key}`} type={type} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
    </div>
  );
  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">Audit trail</h1>
      <ChainStatus />
      <form onSubmit={submit} className="filters" aria-label="Audit filters">
        {input('principal', 'Principal')}
        {input('action', 'Action')}
        {input('resource', 'Resource')}
        <div className="field inline">
          <label htmlFor="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
            <option value="">any</option>
            <option value="allowed">allowed</option>
            <option value="denied">denied</option>
            <option value="failed">failed</option>
          </select>
        </div>
        {input('from', 'From', 'datetime-local')}
        {input('to', 'To', 'datetime-local')}
        <button type="submit" className="primary">
          Apply filters
        </button>
      </form>
      <ErrorNote error={events.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Principal</th>
            <th scope="col">Action</th>
            <th scope="col">Resource</th>
            <th scope="col">Outcome</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {(events.data?.events ?? []).map(({ seq, event: e }) => (
            <tr key={seq}>
              <td>{seq}</td>
              <td>{e.time === undefined ? '' : new Date(e.time).toLocaleString()}</td>
              <td>{e.principal === undefined ? '' : `${e.principal.type} ${e.principal.name}`}</td>
              <td>{e.action ?? ''}</td>
              <td>
                <code>{e.resource ?? ''}</code>
              </td>
              <td className={`outcome-${e.outcome ?? ''}`}>
                {e.outcome ?? ''}
                {e.errorCode === undefined || e.errorCode === null ? '' : ` (${e.errorCode})`}
              </td>
              <td>{e.sourceIp ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.data?.next === null || events.data === undefined ? null : (
        <button type="button" onClick={() => setAfter(events.data?.next ?? undefined)}>
          Next page
        </button>
      )}
    </section>
  );
}
