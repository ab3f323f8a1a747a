import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, type LogEvent } from '../api';
import { ErrorNote } from '../ui';

/**
 * A live tail of a log group: the last hour, then long-polls for what comes
 * next; pausable. A group appears with the device's first shipped batch, so
 * LOG_GROUP_NOT_FOUND is a wait, not an error.
 */
export function LogTail({ project, group, label, heading }: { project: string; group: string; label: string; heading: string }): ReactNode {
  const [lines, setLines] = useState<LogEvent[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const [paused, setPaused] = useState(false);
  const box = useRef<HTMLOListElement>(null);
  const headingId = `logs-h-${group}`;
  useEffect(() => {
    if (paused) return;
    const aborter = new AbortController();
    let after: string | undefined;
    const loop = async (): Promise<void> => {
      let first = true;
      while (!aborter.signal.aborted) {
        try {
          const page = await api.logs.read(
            project,
            group,
            first
              ? { since: String(Date.now() - 3_600_000), limit: 500 }
              : { ...(after === undefined ? {} : { after }), wait: 20, limit: 500 },
            aborter.signal,
          );
          first = false;
          after = page.nextToken;
          setError(undefined);
          if (page.events.length > 0) setLines((prev) => [...prev, ...page.events].slice(-500));
        } catch (e) {
          if (aborter.signal.aborted) return;
          setError(e);
          await new Promise((r) => setTimeout(r, e instanceof ApiError && e.code === 'LOG_GROUP_NOT_FOUND' ? 3000 : 5000));
        }
      }
    };
    void loop();
    return () => aborter.abort();
  }, [project, group, paused]);
  useEffect(() => {
    const el = box.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [lines]);
  const waiting = error instanceof ApiError && error.code === 'LOG_GROUP_NOT_FOUND';
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>{heading}</h2>
      <button type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
        {paused ? 'Resume tail' : 'Pause tail'}
      </button>
      <ErrorNote error={waiting ? undefined : error} />
      {lines.length === 0 ? <p className="hint">No log lines yet{waiting ? ' (the device has not shipped any)' : ''}.</p> : null}
      <ol className="logs" ref={box} tabIndex={0} aria-label={`Log lines of ${label}`} aria-live="off">
        {lines.map((l, i) => (
          <li key={`${l.time}-${i}`} className={`log-${l.level ?? 'info'}`}>
            <time dateTime={l.time}>{l.time.slice(11, 19)}</time> <span className="log-level">{l.level ?? ''}</span>{' '}
            <span className="log-stream">{l.stream}</span> {l.message}
          </li>
        ))}
      </ol>
    </section>
  );
}
