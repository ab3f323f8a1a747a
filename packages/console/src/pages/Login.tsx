import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import QRCode from 'qrcode';
import { api, setCsrfToken, type Scope } from '../api';
import { ErrorNote, Field, formError, useAction } from '../ui';

export function LoginPage({ expired, onSignedIn }: { expired: boolean; onSignedIn: (user: string, scope: Scope) => void }): ReactNode {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const action = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void action.run(async () => {
      const s = await api.auth.login(user, password, totp);
      setCsrfToken(s.csrfToken);
      onSignedIn(user, s.scope);
    });
  };
  return (
    <main className="login" id="main">
      <h1>Sign in to Sightline</h1>
      {expired ? (
        <p className="notice" role="status">
          Your session expired. Sign in again to return to the page you were on.
        </p>
      ) : null}
      <form onSubmit={submit} aria-describedby="login-error">
        <Field label="User name" name="user" value={user} onChange={setUser} autoComplete="username" required error={action.error} />
        <Field label="Password" name="password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required error={action.error} />
        <Field
          label="Authenticator code"
          name="totp"
          value={totp}
          onChange={setTotp}
          autoComplete="one-time-code"
          inputMode="numeric"
          hint="The 6-digit code from your authenticator app. Leave empty only on your very first sign-in, before you have enrolled one."
          error={action.error}
        />
        <div aria-live="assertive" id="login-error">
          <ErrorNote error={formError(action.error, ['user', 'password', 'totp'])} />
        </div>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

/** First sign-in: TOTP enrolment with a QR code (rendered to a data: URL image, which the CSP allows). */
export function EnrollPage({ user, onEnrolled }: { user: string; onEnrolled: () => void }): ReactNode {
  const [secret, setSecret] = useState<{ secret: string; qr: string } | undefined>(undefined);
  const [code, setCode] = useState('');
  const start = useAction();
  const confirm = useAction();
  const { run } = start;
  useEffect(() => {
    void run(async () => {
      const r = await api.auth.enroll();
      setSecret({ secret: r.secret, qr: await QRCode.toDataURL(r.otpauthUri, { margin: 1, width: 220 }) });
    });
  }, [run]);
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void confirm.run(async () => {
      const s = await api.auth.confirm(code);
      setCsrfToken(s.csrfToken);
      onEnrolled();
    });
  };
  return (
    <main className="login" id="main">
      <h1>Set up two-factor sign-in</h1>
      <p>
        Every Sightline account signs in with a password and a code from an authenticator app. Scan this QR code for <strong>{user}</strong>, then
        enter the code the app shows.
      </p>
      <ErrorNote error={start.error} />
      {secret === undefined ? (
        <p role="status">Preparing your secret…</p>
      ) : (
        <>
          <img src={secret.qr} alt={`QR code for the authenticator secret of ${user}`} className="qr" width={220} height={220} />
          <p>
            Cannot scan? Enter this secret by hand: <code className="secret">{secret.secret}</code>
          </p>
        </>
      )}
      <form onSubmit={submit}>
        <Field label="Code from the app" name="code" value={code} onChange={setCode} inputMode="numeric" autoComplete="one-time-code" required error={confirm.error} />
        <div aria-live="assertive">
          <ErrorNote error={formError(confirm.error, ['code'])} />
        </div>
        <button type="submit" className="primary" disabled={confirm.busy || secret === undefined}>
          Confirm and sign in
        </button>
      </form>
    </main>
  );
}
