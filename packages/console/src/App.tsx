import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { api, onSessionExpired, setCsrfToken } from './api';
import { BASE, Link, navigate, useLocation } from './router';
import { SessionContext } from './session';
import { ErrorNote, useLoad } from './ui';
import { EnrollPage, LoginPage } from './pages/Login';
import { FleetPage } from './pages/Fleet';
import { DevicePage } from './pages/Device';
import { AppInstancePage } from './pages/AppInstance';
import { ProvisionPage } from './pages/Provision';
import { CamerasPage } from './pages/Cameras';
import { PackagesPage } from './pages/Packages';
import { DeployPage } from './pages/Deploy';
import { AuditPage } from './pages/Audit';
import { KeysPage } from './pages/Keys';
import { ApiKeysPage, GroupsPage, PoliciesPage, SimulatorPage, UsersPage } from './pages/Identity';

type Auth = { state: 'checking' } | { state: 'signed-out'; expired: boolean } | { state: 'enroll'; user: string } | { state: 'in'; user: string };

const NAV: [string, string][] = [
  ['/', 'Fleet'],
  ['/provision', 'Provision'],
  ['/cameras', 'Cameras'],
  ['/packages', 'Packages'],
  ['/deploy', 'Deploy'],
  ['/audit', 'Audit'],
  ['/keys', 'Keys'],
  ['/users', 'Users'],
  ['/groups', 'Groups'],
  ['/policies', 'Policies'],
  ['/apikeys', 'API keys'],
  ['/simulator', 'Policy simulator'],
];

function Page({ path }: { path: string }): ReactNode {
  const device = /^\/devices\/([^/]+)$/.exec(path);
  if (device?.[1] !== undefined) return <DevicePage name={decodeURIComponent(device[1])} />;
  const app = /^\/apps\/([^/]+)$/.exec(path);
  if (app?.[1] !== undefined) return <AppInstancePage instance={decodeURIComponent(app[1])} />;
  switch (path) {
    case '/':
      return <FleetPage />;
    case '/provision':
      return <ProvisionPage />;
    case '/cameras':
      return <CamerasPage />;
    case '/packages':
      return <PackagesPage />;
    case '/deploy':
      return <DeployPage />;
    case '/audit':
      return <AuditPage />;
    case '/keys':
      return <KeysPage />;
    case '/users':
      return <UsersPage />;
    case '/groups':
      return <GroupsPage />;
    case '/policies':
      return <PoliciesPage />;
    case '/apikeys':
      return <ApiKeysPage />;
    case '/simulator':
      return <SimulatorPage />;
    default:
      return (
        <p role="alert">
          No console page at {path}. <Link to="/">Go to the fleet overview</Link>.
        </p>
      );
  }
}

function ProjectPicker({ project, setProject }: { project: string; setProject: (p: string) => void }): ReactNode {
  const projects = useLoad(() => api.projects(), []);
  const names = projects.data?.projects.map((p) => p.name) ?? [project];
  return (
    <div className="project-picker">
      <label htmlFor="project">Project</label>
      <select id="project" value={project} onChange={(e) => setProject(e.target.value)}>
        {(names.includes(project) ? names : [project, ...names]).map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </div>
  );
}

export function App(): ReactNode {
  const { path, query, full } = useLocation();
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const [project, setProject] = useState(() => query.get('project') ?? 'default');
  const [logoutError, setLogoutError] = useState<unknown>(undefined);

  const toLogin = useCallback((expired: boolean) => {
    setCsrfToken(null);
    setAuth({ state: 'signed-out', expired });
    // Keep the page the person was on, to return to it after signing in.
    const here = window.location.pathname + window.location.search;
    if (!here.startsWith(`${BASE}/login`)) navigate(`${BASE}/login?next=${encodeURIComponent(here)}`, true);
  }, []);

  useEffect(() => {
    onSessionExpired(() => toLogin(true));
    api.auth.session().then(
      (s) => {
        setCsrfToken(s.csrfToken);
        setAuth(s.scope === 'full' ? { state: 'in', user: s.user } : { state: 'enroll', user: s.user });
      },
      () => toLogin(false),
    );
  }, [toLogin]);

  const next = (): string => {
    const n = query.get('next');
    return n !== null && n.startsWith(`${BASE}/`) && !n.startsWith(`${BASE}/login`) ? n : `${BASE}/`;
  };

  if (auth.state === 'checking') return <p className="loading">Loading…</p>;
  if (auth.state === 'in' && path === '/login') {
    navigate(next(), true);
    return null;
  }
  if (auth.state === 'signed-out') {
    return (
      <LoginPage
        expired={auth.expired}
        onSignedIn={(user, scope) => {
          if (scope === 'full') {
            setAuth({ state: 'in', user });
            navigate(next(), true);
          } else {
            setAuth({ state: 'enroll', user });
          }
        }}
      />
    );
  }
  if (auth.state === 'enroll') {
    return (
      <EnrollPage
        user={auth.user}
        onEnrolled={() => {
          setAuth({ state: 'in', user: auth.user });
          navigate(next(), true);
        }}
      />
    );
  }

  const signOut = (): void => {
    api.auth.logout().then(
      () => toLogin(false),
      (e: unknown) => setLogoutError(e),
    );
  };

  return (
    <SessionContext.Provider value={{ user: auth.user, project, setProject }}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Sightline</span>
        <ProjectPicker project={project} setProject={setProject} />
        <span className="who">
          Signed in as <strong>{auth.user}</strong>
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <ErrorNote error={logoutError} />
      <div className="layout">
        <nav aria-label="Console sections">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <Link to={to}>{label}</Link>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1} key={full}>
          <Page path={path} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}
