import { useState, type FormEvent, type ReactNode } from 'react';
import { api, type Network } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { ErrorNote, Field, formError, useAction } from '../ui';

interface Result {
  name: string;
  passphrase: string;
  expiresAt: string;
  sha256: string;
  /** Dropped after the one download. */
  archiveUrl: string | undefined;
}

function archiveUrl(base64: string): string {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
}

/** Name → network → the archive (downloaded once) and the passphrase (shown once). */
export function ProvisionPage(): ReactNode {
  const { project } = useSession();
  const [step, setStep] = useState<1 | 2>(1);
  const [name, setName] = useState('');
  const [mode, setMode] = useState<'dhcp' | 'static'>('dhcp');
  const [address, setAddress] = useState('');
  const [gateway, setGateway] = useState('');
  const [dns, setDns] = useState('');
  const [ntp, setNtp] = useState('');
  const [result, setResult] = useState<Result | undefined>(undefined);
  const [copied, setCopied] = useState('');
  const action = useAction();

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (step === 1) {
      setStep(2);
      return;
    }
    const network: Network = mode === 'dhcp' ? { mode } : { mode, address, gateway, dns: dns.split(/[\s,]+/).filter((x) => x !== '') };
    void action.run(async () => {
      const r = await api.devices.provision(project, { name, network, ntp: ntp.split(/[\s,]+/).filter((x) => x !== '') });
      setResult({ name: r.device.name, passphrase: r.passphrase, expiresAt: r.provisioningExpiresAt, sha256: r.archiveSha256, archiveUrl: archiveUrl(r.archive) });
    });
  };

  if (result !== undefined) {
    const downloaded = (): void => {
      // Once: the archive leaves the page's memory after its download starts.
      setTimeout(() => {
        if (result.archiveUrl !== undefined) URL.revokeObjectURL(result.archiveUrl);
        setResult({ ...result, archiveUrl: undefined });
      }, 1000);
    };
    return (
      <section aria-labelledby="prov-h">
        <h1 id="prov-h">Device {result.name} provisioned</h1>
        <p className="warning" role="alert">
          Neither the archive nor the passphrase can be shown again: the server keeps only a fingerprint. Download the archive now, note the passphrase
          somewhere safe, and provision again if either is lost. Register the device before {new Date(result.expiresAt).toLocaleString()}.
        </p>
        <h2>1. Configuration archive</h2>
        {result.archiveUrl === undefined ? (
          <p role="status">Archive downloaded (SHA-256 {result.sha256}). It is no longer held by this page.</p>
        ) : (
          <a className="button primary" href={result.archiveUrl} download={`${result.name}.sightline-archive.age`} onClick={downloaded}>
            Download the archive (once)
          </a>
        )}
        <h2>2. Passphrase</h2>
        <p>
          <code className="secret" id="passphrase" aria-label="One-time passphrase">
            {result.passphrase}
          </code>{' '}
          <button
            type="button"
            onClick={() => {
              navigator.clipboard.writeText(result.passphrase).then(
                () => setCopied('Passphrase copied to the clipboard.'),
                () => setCopied('Copying failed; select the passphrase and copy it by hand.'),
              );
            }}
          >
            Copy passphrase
          </button>
        </p>
        <p aria-live="polite">{copied}</p>
        <p>
          On the appliance: <code>sightline-agent register --archive {result.name}.sightline-archive.age --passphrase-file FILE</code>. Then watch it come
          online on the <Link to={`/devices/${encodeURIComponent(result.name)}`}>device page</Link>.
        </p>
      </section>
    );
  }

  return (
    <section aria-labelledby="prov-h">
      <h1 id="prov-h">Provision a device</h1>
      <p className="hint">Step {step} of 2</p>
      <form onSubmit={submit}>
        {step === 1 ? (
          <Field label="Device name" name="name" value={name} onChange={setName} required error={action.error} hint="Letters, digits, - and _; unique in the project." />
        ) : (
          <fieldset>
            <legend>Network settings for {name}</legend>
            <div className="radio">
              <input type="radio" id="net-dhcp" name="mode" checked={mode === 'dhcp'} onChange={() => setMode('dhcp')} />
              <label htmlFor="net-dhcp">DHCP</label>
              <input type="radio" id="net-static" name="mode" checked={mode === 'static'} onChange={() => setMode('static')} />
              <label htmlFor="net-static">Static address</label>
            </div>
            {mode === 'static' ? (
              <>
                <Field label="Address with prefix" name="network.address" value={address} onChange={setAddress} hint="e.g. 10.0.0.5/24" required error={action.error} />
                <Field label="Gateway" name="network.gateway" value={gateway} onChange={setGateway} required error={action.error} />
                <Field label="DNS servers" name="network.dns" value={dns} onChange={setDns} hint="One to four, separated by spaces or commas" required error={action.error} />
              </>
            ) : null}
            <Field label="NTP servers (optional)" name="ntp" value={ntp} onChange={setNtp} hint="Host names, separated by spaces" error={action.error} />
          </fieldset>
        )}
        <div aria-live="assertive">
          <ErrorNote error={formError(action.error, ['name', 'network', 'ntp'])} />
          {step === 2 && action.error !== undefined && formError(action.error, ['name']) === undefined ? <p>Go back to fix the name.</p> : null}
        </div>
        {step === 2 ? (
          <button type="button" onClick={() => setStep(1)}>
            Back
          </button>
        ) : null}
        <button type="submit" className="primary" disabled={action.busy}>
          {step === 1 ? 'Next: network' : 'Provision'}
        </button>
      </form>
    </section>
  );
}
