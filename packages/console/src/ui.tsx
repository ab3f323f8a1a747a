import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api';

/** Loads data, optionally polling; keeps the last good data while a refresh fails. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], pollMs?: number): { data: T | undefined; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let live = true;
    const run = (): void => {
      load().then(
        (d) => {
          if (!live) return;
          setData(d);
          setError(undefined);
        },
        (e: unknown) => {
          if (live) setError(e);
        },
      );
    };
    run();
    const timer = pollMs === undefined ? undefined : window.setInterval(run, pollMs);
    return () => {
      live = false;
      if (timer !== undefined) window.clearInterval(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload };
}

/** Runs an action, remembering its error for display next to the form or field. */
export function useAction(): { busy: boolean; error: unknown; run: <T>(fn: () => Promise<T>) => Promise<T | undefined>; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}

export function isNotFoundRoute(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404 && e.code === 'NOT_FOUND' && /No API route/.test(e.message);
}

/** An API error as the API gave it: code and sentence, announced to screen readers. */
export function ErrorNote({ error, id }: { error: unknown; id?: string }): ReactNode {
  if (error === undefined || error === null) return null;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'Something went wrong.';
  return (
    <p className="error" role="alert" id={id}>
      <strong className="code">{code}</strong> {message}
    </p>
  );
}

/** Only the part of an error that concerns `field` (API `details.field`/`details.path`). */
export function fieldError(error: unknown, field: string): ApiError | undefined {
  return error instanceof ApiError && error.field !== undefined && (error.field === field || error.field.startsWith(`${field}.`)) ? error : undefined;
}

/** The error not claimed by any of these fields: shown at the form's top. */
export function formError(error: unknown, fields: readonly string[]): unknown {
  return fields.some((f) => fieldError(error, f) !== undefined) ? undefined : error;
}

let fieldSeq = 0;
function useId(prefix: string): string {
  const ref = useRef<string | null>(null);
  ref.current ??= `${prefix}-${++fieldSeq}`;
  return ref.current;
}

/** A labelled input with its error (code + sentence) right below it, tied by aria-describedby. */
export function Field(props: {
  label: string;
  name: string;
  value: string;
  onChange: (v: string) => void;
  error?: unknown;
  type?: string;
  autoComplete?: string;
  required?: boolean;
  hint?: string;
  inputMode?: 'numeric' | 'text';
  multiline?: boolean;
}): ReactNode {
  const id = useId(props.name);
  const err = fieldError(props.error, props.name);
  const described = [props.hint === undefined ? '' : `${id}-hint`, err === undefined ? '' : `${id}-err`].filter((x) => x !== '').join(' ');
  const common = {
    id,
    name: props.name,
    value: props.value,
    required: props.required ?? false,
    'aria-invalid': err !== undefined,
    ...(described === '' ? {} : { 'aria-describedby': described }),
  };
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.multiline === true ? (
        <textarea {...common} rows={8} onChange={(e) => props.onChange(e.target.value)} />
      ) : (
        <input
          {...common}
          type={props.type ?? 'text'}
          autoComplete={props.autoComplete ?? 'off'}
          {...(props.inputMode === undefined ? {} : { inputMode: props.inputMode })}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
      {props.hint === undefined ? null : (
        <p className="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {err === undefined ? null : <ErrorNote error={err} id={`${id}-err`} />}
    </div>
  );
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return 'never';
  return `${duration(Math.max(0, (now - Date.parse(iso)) / 1000))} ago`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i] ?? 'B'}`;
}

/** A small inline SVG line chart (no inline styles: classes only, for the CSP). */
export function Sparkline({ label, values, max, unit }: { label: string; values: readonly number[]; max?: number; unit: string }): ReactNode {
  const w = 160;
  const h = 40;
  const top = Math.max(max ?? 0, ...values, 1e-9);
  const last = values[values.length - 1];
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * (w - 2)},${h - (v / top) * (h - 2) - 1}`).join(' ');
  const text = last === undefined ? 'no data yet' : `${last.toFixed(1)} ${unit}`;
  return (
    <figure className="chart">
      <figcaption>
        {label}: <span className="chart-value">{text}</span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`${label}, last ${values.length} samples, now ${text}`}>
        <rect x="0" y="0" width={w} height={h} className="chart-bg" />
        {values.length > 1 ? <polyline points={points} className="chart-line" /> : null}
        {last === undefined ? null : <circle cx={w - 2} cy={h - (last / top) * (h - 2) - 1} r={2.5} className="chart-dot" />}
      </svg>
    </figure>
  );
}

/**
 * A confirmation that names what it acts on; the action runs only after the
 * person presses the button that repeats the name.
 */
export function ConfirmButton(props: { label: string; target: string; danger?: boolean; detail?: string; onConfirm: () => Promise<unknown> | undefined }): ReactNode {
  const [open, setOpen] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) confirmRef.current?.focus();
  }, [open]);
  if (!open) {
    return (
      <button type="button" className={props.danger === true ? 'danger' : ''} onClick={() => setOpen(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <div className="confirm" role="group" aria-label={`Confirm: ${props.label} ${props.target}`}>
      <p>
        {props.label} <strong>{props.target}</strong>? {props.detail ?? ''}
      </p>
      <button
        type="button"
        ref={confirmRef}
        className={props.danger === true ? 'danger' : 'primary'}
        onClick={() => {
          setOpen(false);
          void props.onConfirm();
        }}
      >
        {props.label} {props.target}
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </div>
  );
}

/** An explanation for a page whose API this control plane does not have yet (a later issue). */
export function Unavailable({ what }: { what: string }): ReactNode {
  return (
    <p className="notice" role="status">
      {what} is not available on this control plane yet (its API answered 404). Update the control plane to use this page.
    </p>
  );
}
