import { useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, readPreviewFrames } from '../api';
import { ConfirmButton, ErrorNote, useAction } from '../ui';

/** A JPEG as a data: URL (the console's CSP allows img-src 'self' data:, nothing else). */
function dataUrl(jpeg: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < jpeg.length; i += 0x8000) bin += String.fromCharCode(...jpeg.subarray(i, i + 0x8000));
  return `data:image/jpeg;base64,${btoa(bin)}`;
}

/** Why a preview was refused, in words, next to the API's own code and sentence. */
function Refusal({ error, project, onRetry }: { error: unknown; project: string; onRetry: () => void }): ReactNode {
  const turnOn = useAction();
  const code = error instanceof ApiError ? error.code : '';
  return (
    <div className="preview-refusal">
      {code === 'ACCESS_DENIED' ? (
        <p>Previewing app output needs the permission device:ViewOutput on this device (Operator or Admin roles have it).</p>
      ) : null}
      {code === 'OUTPUT_PREVIEW_DISABLED' ? (
        <p>Output preview is off in project {project}. It is off by default; an Admin may turn it on.</p>
      ) : null}
      {code === 'PREVIEW_TIMEOUT' ? <p>The device did not start the stream in time.</p> : null}
      <ErrorNote error={error} />
      {code === 'OUTPUT_PREVIEW_DISABLED' ? (
        <>
          <ConfirmButton
            label="Allow output preview in project"
            target={project}
            detail="Principals with device:ViewOutput may then watch app outputs of every device in it; every preview is audited."
            onConfirm={() =>
              turnOn.run(async () => {
                await api.project.setOutputPreview(project, true);
                onRetry();
              })
            }
          />
          <ErrorNote error={turnOn.error} />
        </>
      ) : null}
    </div>
  );
}

/**
 * Output preview (issue 8): the app output relayed live through the control
 * plane into an <img>, until Stop, navigation or the page closing (the
 * request is aborted; the server then ends the device's push and audits it).
 */
export function OutputPreview(props: {
  project: string;
  device: string;
  instance: string;
  app: string;
  output: string;
  onStop: () => void;
}): ReactNode {
  const { project, device, instance, output } = props;
  const [src, setSrc] = useState<string | undefined>(undefined);
  const [frames, setFrames] = useState(0);
  const [error, setError] = useState<unknown>(undefined);
  const [state, setState] = useState<'connecting' | 'live' | 'ended'>('connecting');
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const aborter = new AbortController();
    const stop = (): void => aborter.abort();
    window.addEventListener('pagehide', stop);
    setError(undefined);
    setState('connecting');
    setSrc(undefined);
    setFrames(0);
    void (async () => {
      try {
        const stream = await api.previewOutput(project, device, instance, output, aborter.signal);
        setState('live');
        await readPreviewFrames(stream, (jpeg) => {
          setSrc(dataUrl(jpeg));
          setFrames((n) => n + 1);
        });
        if (!aborter.signal.aborted) setState('ended');
      } catch (e) {
        if (aborter.signal.aborted) return;
        setError(e);
        setState('ended');
      }
    })();
    return () => {
      window.removeEventListener('pagehide', stop);
      aborter.abort();
    };
  }, [project, device, instance, output, attempt]);
  return (
    <figure className="preview" aria-labelledby={`preview-${instance}-${output}`}>
      <figcaption id={`preview-${instance}-${output}`}>
        Output {output} of {props.app} on {device}:{' '}
        <span role="status">
          {state === 'connecting'
            ? `waiting for ${device} to start the stream…`
            : state === 'live'
              ? `live, ${frames} frames`
              : error === undefined
                ? 'the preview ended.'
                : 'refused.'}
        </span>
      </figcaption>
      {src === undefined ? null : (
        <img src={src} alt={`Live output ${output} of ${props.app} on ${device}`} className="preview-frame" data-frames={frames} />
      )}
      {error === undefined ? null : <Refusal error={error} project={project} onRetry={() => setAttempt((n) => n + 1)} />}
      <div className="actions">
        <button type="button" onClick={props.onStop}>
          Stop preview
        </button>
        {state === 'ended' ? (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        ) : null}
      </div>
    </figure>
  );
}
