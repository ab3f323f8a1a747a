import { createContext, useContext, useEffect, useState, type MouseEvent, type ReactNode } from 'react';

/** A tiny client-side router over the History API; every console page lives under /console/. */
export const BASE = '/console';

function current(): string {
  return window.location.pathname + window.location.search;
}

const RouteContext = createContext<string>('/');

export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function RouterProvider({ children }: { children: ReactNode }): ReactNode {
  const [location, setLocation] = useState(current());
  useEffect(() => {
    const on = (): void => setLocation(current());
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return <RouteContext.Provider value={location}>{children}</RouteContext.Provider>;
}

/** The path inside the console (`/devices/lobby`), and its query. */
export function useLocation(): { path: string; query: URLSearchParams; full: string } {
  const full = useContext(RouteContext);
  const url = new URL(full, 'https://console.invalid');
  const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) || '/' : url.pathname;
  return { path, query: url.searchParams, full };
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }): ReactNode {
  const href = `${BASE}${to}`;
  const { path } = useLocation();
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} className={className} aria-current={path === to ? 'page' : undefined}>
      {children}
    </a>
  );
}
